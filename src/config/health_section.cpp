// [backend.NAME.health]: the active probe and its thresholds, read as written, then completed
// once the frontends using the backend are known (their presets imply the probe type).
#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

#include "config/duration.h"
#include "config/sections.h"

namespace udpx {
namespace {

constexpr std::string_view kHealthKeys[] = {"type", "interval", "timeout", "rise", "fall", "query", "send", "expect"};
constexpr std::int64_t kMaxRiseFall = 100;

// send / expect: a payload in hex.
void readHex(ConfigReader& r, const ConfigNode& table, const std::string& path, const char* key,
             std::vector<std::uint8_t>& out, bool& given, SourcePos& pos) {
  const ConfigNode* n = table.get(key);
  if (n == nullptr) return;
  given = true;
  pos = n->pos;
  auto text = r.readString(*n, path + "." + key);
  if (!text) return;
  auto bytes = parseHex(*text);
  if (!bytes || bytes->size() > kMaxProbeLen) {
    r.error(pos, path + "." + key, "bad hex payload " + quoted(*text),
            "write pairs of hex digits, optionally separated by spaces, at most " + std::to_string(kMaxProbeLen) +
                " bytes: \"0a 1b 2c\"");
    return;
  }
  out = std::move(*bytes);
}

}  // namespace

void loadHealth(ConfigReader& r, const ConfigNode& table, const std::string& path, HealthConfig& h, HealthDraft& d) {
  r.checkKeys(table, path, kHealthKeys);
  d.table_pos = table.pos;
  if (const ConfigNode* n = table.get("type")) {
    if (const auto i = r.readChoice(*n, path + ".type", "probe type", probeTypeNames())) {
      d.type = probeTypeFromName(probeTypeNames()[*i]);
    }
  }
  if (const ConfigNode* n = table.get("interval")) d.interval = r.readDuration(*n, path + ".interval");
  if (const ConfigNode* n = table.get("timeout")) {
    d.timeout = r.readDuration(*n, path + ".timeout");
    d.timeout_pos = n->pos;
  }
  if (const ConfigNode* n = table.get("rise")) {
    if (const auto v = r.readInt(*n, path + ".rise", 1, kMaxRiseFall)) d.rise = static_cast<std::uint32_t>(*v);
  }
  if (const ConfigNode* n = table.get("fall")) {
    if (const auto v = r.readInt(*n, path + ".fall", 1, kMaxRiseFall)) d.fall = static_cast<std::uint32_t>(*v);
  }
  if (const ConfigNode* n = table.get("query")) {
    d.query_given = true;
    d.query_pos = n->pos;
    if (auto q = r.readString(*n, path + ".query")) {
      const std::string problem = *q == "." ? "" : hostNameProblem(*q);
      if (problem.empty()) {
        h.probe.query = *q;
      } else {
        r.error(d.query_pos, path + ".query", quoted(*q) + " is not a valid DNS name: " + problem,
                "write a name the resolver answers, e.g. \"example.org\", or \".\" for the root");
      }
    }
  }
  readHex(r, table, path, "send", h.probe.send, d.send_given, d.send_pos);
  readHex(r, table, path, "expect", h.probe.expect, d.expect_given, d.expect_pos);
}

void finishHealth(ConfigReader& r, BackendDraft& b, const std::vector<const FrontendDraft*>& users) {
  const std::string path = "backend." + b.config.name + ".health";
  HealthDraft& d = b.health;
  HealthConfig& h = b.config.health;
  if (d.type) {
    h.probe.type = *d.type;
  } else {
    std::set<ProbeType> types;
    std::string list;
    for (const FrontendDraft* f : users) {
      const ProbeType t = defaultProbeType(f->config.preset);
      types.insert(t);
      if (!list.empty()) list += ", ";
      list += f->config.name + " (" + std::string(presetDefaults(f->config.preset).name) + ": " +
              std::string(probeTypeName(t)) + ")";
    }
    if (types.size() > 1) {
      r.error(d.table_pos.line ? d.table_pos : b.config.pos, path,
              "the frontends using backend " + b.config.name + " imply different health probes: " + list,
              "set the probe explicitly: [" + path + "] type = \"ntp\" | \"dns\" | \"raw\" | \"none\"");
      return;
    }
    h.probe.type = types.empty() ? ProbeType::None : *types.begin();
  }
  const ProbeDefaults& def = probeDefaults(h.probe.type);
  h.interval = d.interval.value_or(def.interval);
  h.timeout = d.timeout.value_or(std::min(def.timeout, h.interval));
  h.rise = d.rise.value_or(def.rise);
  h.fall = d.fall.value_or(def.fall);
  if (h.timeout > h.interval) {
    r.error(d.timeout_pos, path + ".timeout",
            "timeout " + formatDuration(h.timeout) + " is longer than interval " + formatDuration(h.interval),
            "a probe must be answered before the next one is sent: make timeout <= interval");
  }
  if (d.query_given && h.probe.type != ProbeType::Dns) {
    r.error(d.query_pos, path + ".query",
            "query is only used by dns probes (this backend's probe is " + std::string(probeTypeName(h.probe.type)) +
                ")",
            "remove it, or set type = \"dns\"");
  }
  for (auto [given, pos, key] :
       {std::tuple{d.send_given, d.send_pos, "send"}, std::tuple{d.expect_given, d.expect_pos, "expect"}}) {
    if (given && h.probe.type != ProbeType::Raw) {
      r.error(pos, path + "." + key,
              std::string(key) + " is only used by raw probes (this backend's probe is " +
                  std::string(probeTypeName(h.probe.type)) + ")",
              "remove it, or set type = \"raw\"");
    }
  }
  if (d.expect_given && !d.send_given && h.probe.type == ProbeType::Raw) {
    r.error(d.expect_pos, path + ".expect", "expect without send: nothing is sent, so nothing can be expected",
            "add send = \"HEX\" with the probe's payload");
  }
}

}  // namespace udpx
