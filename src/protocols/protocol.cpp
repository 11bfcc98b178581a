// Dispatches protocol.h's calls to the per-protocol validators in ntp.cpp, dns.cpp, syslog.cpp, raw.cpp.
#include "protocols/protocol.h"

#include "protocols/validators.h"

namespace udpx {

// The switches list every Preset and have no default, so adding a preset without a validator
// is a -Wswitch error. The fall-through returns only guard a value cast from a bad integer:
// drop rather than forward what nothing knows how to check.

Check checkRequest(Preset p, std::span<const std::uint8_t> pkt, Token& token) noexcept {
  switch (p) {
    case Preset::Raw: return raw::checkRequest(pkt, token);
    case Preset::Ntp: return ntp::checkRequest(pkt, token);
    case Preset::Dns: return dns::checkRequest(pkt, token);
    case Preset::Syslog: return syslog::checkRequest(pkt, token);
  }
  return Check::Malformed;
}

Check checkReply(Preset p, std::span<const std::uint8_t> pkt, Token& token) noexcept {
  switch (p) {
    case Preset::Raw: return raw::checkReply(pkt, token);
    case Preset::Ntp: return ntp::checkReply(pkt, token);
    case Preset::Dns: return dns::checkReply(pkt, token);
    case Preset::Syslog: return syslog::checkReply(pkt, token);
  }
  return Check::Malformed;
}

bool usesTokens(Preset p) noexcept {
  switch (p) {
    case Preset::Raw: return raw::kUsesTokens;
    case Preset::Ntp: return ntp::kUsesTokens;
    case Preset::Dns: return dns::kUsesTokens;
    case Preset::Syslog: return syslog::kUsesTokens;
  }
  return false;
}

bool repliesBoundedByRequest(Preset p) noexcept {
  switch (p) {
    case Preset::Raw: return raw::kRepliesBoundedByRequest;
    case Preset::Ntp: return ntp::kRepliesBoundedByRequest;
    case Preset::Dns: return dns::kRepliesBoundedByRequest;
    case Preset::Syslog: return syslog::kRepliesBoundedByRequest;
  }
  return false;
}

}  // namespace udpx
