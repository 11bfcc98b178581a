// libevent's own log lines ("[warn] Error from accept() call: ...") through udpx's logger:
// with udpx's format and level, rate-limited (one line per severity per 10 s, with the count of
// the ones held back), so no libevent path can flood the log.
#pragma once

namespace udpx {

// Installs the callback (event_set_log_callback); call once, before the loop runs.
void routeLibeventLogs() noexcept;

}  // namespace udpx
