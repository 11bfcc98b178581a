// renderClientsText: the recent-clients tables of a status document.
#include "status/clients_text.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "config/duration.h"

namespace udpx {
namespace {

std::string pad(std::string s, std::size_t width, bool right) {
  if (s.size() >= width) return s;
  return right ? std::string(width - s.size(), ' ') + s : s + std::string(width - s.size(), ' ');
}

std::string agoText(std::int64_t then_ms, std::int64_t now_ms) {
  // Saturating: the times come from the document, which may hold any number.
  std::int64_t d = 0;
  if (__builtin_sub_overflow(now_ms, then_ms, &d)) d = now_ms > then_ms ? INT64_MAX : 0;
  d = std::max<std::int64_t>(0, d);
  if (d >= 1000) d -= d % 1000;
  return formatDuration(std::chrono::milliseconds(d)) + " ago";
}

}  // namespace

std::string renderClientsText(const Snapshot& st) {
  std::string o;
  for (const FrontendSnapshot& fe : st.frontends) {
    o += (o.empty() ? "" : "\n") + std::string("frontend ") + fe.name + ": " + std::to_string(fe.clients.size()) +
         " recent client" + (fe.clients.size() == 1 ? "" : "s") + " (the last " + std::to_string(kRecentClientsKept) +
         " are kept), " + std::to_string(fe.clients_recent) + " seen in the last " +
         formatDuration(std::chrono::duration_cast<std::chrono::milliseconds>(kRecentClientWindow)) + "\n";
    if (fe.clients.empty()) continue;
    std::size_t w = 7;
    for (const ClientSnapshot& c : fe.clients) w = std::max(w, c.address.size());
    o += "  " + pad("client", w, false) + "  " + pad("requests", 9, true) + "  " + pad("answers", 9, true) + "  " +
         pad("unanswered", 10, true) + "  " + pad("last seen", 12, false) + "  drops\n";
    for (const ClientSnapshot& c : fe.clients) {
      std::string drops;
      for (std::size_t i = 0; i < kDropCount; ++i) {
        if (c.dropped[i] > 0) {
          drops += (drops.empty() ? "" : ", ") + std::string(dropName(static_cast<Drop>(i))) + " " +
                   std::to_string(c.dropped[i]);
        }
      }
      o += "  " + pad(c.address, w, false) + "  " + pad(std::to_string(c.requests), 9, true) + "  " +
           pad(std::to_string(c.answers), 9, true) + "  " + pad(std::to_string(c.unanswered), 10, true) + "  " +
           pad(agoText(c.last_seen_unix_ms, st.udpx.now_unix_ms), 12, false) + "  " +
           (drops.empty() ? std::string("none") : drops) + "\n";
    }
  }
  if (st.frontends.empty()) o = "no frontend\n";
  return o;
}

}  // namespace udpx
