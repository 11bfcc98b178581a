// The presets' names and defaults (port, response budget, session timeout, datagram cap).
#include <array>

#include "protocols/protocol.h"

namespace udpx {
namespace {

using std::chrono::seconds;

// ntp and dns answer once per request, within milliseconds, so their sessions need not outlive
// the exchange by much; syslog never answers. raw cannot know the protocol, so it allows any
// number of replies and the largest UDP payload over IPv4 (65535 - 8 UDP - 20 IP).
constexpr PresetDefaults kNtp{"ntp", 123, 1, seconds{2}, 2048};
constexpr PresetDefaults kDns{"dns", 53, 1, seconds{5}, 4096};
constexpr PresetDefaults kSyslog{"syslog", 514, 0, seconds{60}, 8192};
constexpr PresetDefaults kRaw{"raw", 0, kUnlimitedResponses, seconds{60}, 65507};

constexpr std::array kAllPresets{Preset::Ntp, Preset::Dns, Preset::Syslog, Preset::Raw};

}  // namespace

const PresetDefaults& presetDefaults(Preset p) noexcept {
  switch (p) {
    case Preset::Raw: return kRaw;
    case Preset::Ntp: return kNtp;
    case Preset::Dns: return kDns;
    case Preset::Syslog: return kSyslog;
  }
  return kRaw;  // only for a value cast from a bad integer
}

// Names are matched exactly (lower case), as they are written in the config.
std::optional<Preset> presetFromName(std::string_view name) noexcept {
  for (const Preset p : kAllPresets) {
    if (presetDefaults(p).name == name) return p;
  }
  return std::nullopt;
}

}  // namespace udpx
