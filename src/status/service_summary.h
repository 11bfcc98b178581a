// The one line a service manager shows for udpx (`systemctl status udpx`, STATUS=): what is
// served and the first thing wrong, with its hint; built from the Snapshot and its findings.
#pragma once

#include <string>

#include "status/snapshot.h"

namespace udpx {

// "serving 2 frontends, 1,234 clients; no problem", or "...; 1 problem: backend ntp_up, server
// 192.168.1.1:123: no reply from 192.168.1.1:123 to 30 probes — is it running, …". The first
// error is named (else the first warning); with more, "3 problems (udpx status lists them),
// the first: …".
// Clients: those seen in the last kRecentClientWindow, summed over the frontends.
std::string serviceSummary(const Snapshot& s);

// 1234567 -> "1,234,567".
std::string withThousands(std::uint64_t v);

}  // namespace udpx
