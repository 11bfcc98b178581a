// `udpx reload`: send the request line, wait for the outcome, print it, exit with its verdict.
#include "status/reload_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "status/json.h"
#include "status/status_client.h"
#include "status/status_socket.h"

namespace udpx {
namespace {

// A reload is parsed and applied in milliseconds; the server gives up on a client after 60 s.
constexpr int kAnswerTimeoutMs = 70000;

}  // namespace

std::string reloadAnswerJson(const std::string& result, const std::string& config, const std::string& summary,
                             const std::vector<std::string>& errors) {
  std::string out = "{\"reload\": " + json::quote(result) + ", \"config\": " + json::quote(config) +
                    ", \"summary\": " + json::quote(summary) + ", \"errors\": [";
  for (std::size_t i = 0; i < errors.size(); ++i) out += (i ? ", " : "") + json::quote(errors[i]);
  return out + "]}\n";
}

int runReloadCommand(const std::string& config_path, const std::optional<std::string>& socket) {
  StatusLink link = connectTrusted(config_path, socket);
  if (link.result == StatusLink::Result::Off) {
    std::fprintf(stderr, "udpx reload: the status endpoint of %s is off (global.status = \"off\"), and udpx reload "
                         "goes through it — send SIGHUP instead (kill -HUP PID, systemctl reload udpx)\n",
                 config_path.c_str());
    return kReloadUnreachable;
  }
  if (link.result == StatusLink::Result::Unreachable) {
    std::fprintf(stderr,
                 "udpx reload: cannot reach udpx at %s — is udpx running with this config (%s)? Give the same "
                 "-c FILE it was started with, or --socket NAME (its log says which at start)\n",
                 link.tried.c_str(), socket ? "--socket" : ("-c " + config_path).c_str());
    return kReloadUnreachable;
  }
  if (link.result == StatusLink::Result::Untrusted) {
    // Its answer could claim anything ("reloaded"): a squatter must not make us say so.
    std::fprintf(stderr, "udpx reload: %s; nothing was reloaded\n", untrustedMessage(link).c_str());
    return kReloadUnreachable;
  }
  const UniqueFd& fd = link.fd;
  const std::string& endpoint = link.endpoint;
  std::string error;
  const std::string request = std::string(kReloadRequest) + "\n";
  std::string text;
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()) ||
      !readUntilClosed(fd.get(), kAnswerTimeoutMs, text, error)) {
    if (error.empty()) error = strerror(errno);
    std::fprintf(stderr, "udpx reload: asking %s failed: %s — is it really udpx listening there?\n", endpoint.c_str(),
                 error.c_str());
    return kReloadUnreachable;
  }
  std::optional<json::Value> doc = json::parse(text, error);
  if (!doc || doc->type != json::Value::Type::Object) {
    std::fprintf(stderr, "udpx reload: %s did not answer with a reload outcome (%s)\n", endpoint.c_str(),
                 doc ? "not an object" : error.c_str());
    return kReloadUnreachable;
  }
  const std::string result = (*doc)["reload"].str();
  if (result.empty()) {
    // A udpx from before `udpx reload` answers every request with its status document.
    std::fprintf(stderr, "udpx reload: the udpx at %s does not take reload requests (%s) — send it SIGHUP, or "
                         "restart it with this version\n", endpoint.c_str(),
                 (*doc)["error"].str("it answered with its status").c_str());
    return kReloadUnreachable;
  }
  const std::string config = (*doc)["config"].str(config_path);
  if (result == "applied") {
    std::printf("reloaded %s: %s\n", config.c_str(), (*doc)["summary"].str("no change").c_str());
    return kReloadApplied;
  }
  const json::Value& errors = (*doc)["errors"];
  for (const json::Value& e : errors.array) std::fprintf(stderr, "%s\n", e.str().c_str());
  if (result == "denied") {
    std::fprintf(stderr, "udpx reload: not allowed: %s\n", (*doc)["summary"].str().c_str());
  } else {
    std::fprintf(stderr, "udpx reload: %s was refused (%zu error%s); udpx keeps running its previous configuration "
                         "— fix the file (udpx check -c %s) and reload again\n",
                 config.c_str(), errors.array.size(), errors.array.size() == 1 ? "" : "s", config.c_str());
  }
  return kReloadRefused;
}

}  // namespace udpx
