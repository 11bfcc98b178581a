// The status document: a Snapshot written as one JSON object (SIGUSR1, the status socket,
// /status) and read back by `udpx status`. Counters take their keys from their declarations.
#pragma once

#include <string>

#include "status/json.h"
#include "status/snapshot.h"

namespace udpx {

// The document, on one line: every counter (per frontend packets, bytes, drops by reason,
// sessions; per server traffic and probes; reloads), per frontend, backend and server their
// state, since when, probe results and round trips, host-name resolution, and every finding
// ("problems", with "ok": false when one is an error). Not the process_* values.
std::string toJson(const Snapshot& s);

// The snapshot a document describes; absent or mistyped members read as zero or empty.
Snapshot snapshotFromJson(const json::Value& doc);

}  // namespace udpx
