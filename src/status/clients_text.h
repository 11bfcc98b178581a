// `udpx status --clients`: each frontend's most recent clients as a table for people.
#pragma once

#include <string>

#include "status/snapshot.h"

namespace udpx {

// Per frontend, most recent first: address, requests, answers, unanswered, drops by reason,
// last seen ("3s ago", from the document's now_unix_ms).
std::string renderClientsText(const Snapshot& status);

}  // namespace udpx
