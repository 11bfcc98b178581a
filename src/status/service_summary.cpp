// serviceSummary: the Snapshot in one line for the service manager.
#include "status/service_summary.h"

#include <algorithm>

namespace udpx {

std::string withThousands(std::uint64_t v) {
  std::string digits = std::to_string(v);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string serviceSummary(const Snapshot& s) {
  std::uint64_t clients = 0;
  bool more = false;
  for (const FrontendSnapshot& f : s.frontends) {
    clients += f.clients_recent;
    more = more || f.clients_table_full;
  }
  const std::size_t n = s.frontends.size();
  std::string out = "serving " + std::to_string(n) + (n == 1 ? " frontend, " : " frontends, ") +
                    withThousands(clients) + (more ? "+" : "") + (clients == 1 && !more ? " client" : " clients");
  if (s.findings.empty()) return out + "; no problem";
  auto first = std::find_if(s.findings.begin(), s.findings.end(), [](const Finding& f) { return f.severity == "error"; });
  if (first == s.findings.end()) first = s.findings.begin();
  const std::size_t count = s.findings.size();
  out += "; " + std::to_string(count) + (count == 1 ? " problem: " : " problems (udpx status lists them), the first: ") + first->subject + ": " +
         first->problem;
  if (!first->hint.empty()) out += " — " + first->hint;
  return out;
}

}  // namespace udpx
