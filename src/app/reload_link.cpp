// Reload transport in the worker and the single process: SIGHUP and `udpx reload` (a request on
// the status socket, allowed for root and udpx's own user) reach Runtime::reload, through the
// binder when there is one (it reads the file and binds the new addresses, privsep/binder_reload.h),
// and the outcome goes back to whoever asked.
#include <sys/socket.h>

#include "app/runtime.h"
#include "base/log.h"
#include "privsep/fdpass.h"
#include "status/reload_client.h"

namespace udpx {

void Runtime::reloadThroughBinder() {
  via_binder_ = true;
  reloadOnSighupBy([this] {
    LOG_INFO("SIGHUP: asking the binder to read %s again", cfg_.file.c_str());
    askReload(0);
  });
}

void Runtime::askReload(std::uint64_t status_conn) {
  if (via_binder_) {
    privsep::LinkMessage ask;
    ask.kind = privsep::LinkKind::Ask;
    ask.id = next_ask_++;
    if (next_ask_ == 0) next_ask_ = 1;  // 0 stands for the binder's own SIGHUP
    std::string error;
    if (!privsep::sendLinkMessage(peer_fd_.get(), ask, {}, error)) {
      LOG_ERROR("reload: cannot ask the binder: %s", error.c_str());
      answerStatus(status_conn, ReloadOutcome{false, {"cannot ask the binder to reload: " + error}, ""});
      return;
    }
    if (status_conn != 0) reload_waiters_.emplace_back(ask.id, status_conn);
    return;
  }
  if (sighup_ == SighupAction::Self) {
    answerStatus(status_conn, reloadOwnFile());
    return;
  }
  answerStatus(status_conn,
               ReloadOutcome{false,
                             {cfg_.file == kCommandLineConfigName
                                  ? "udpx was configured on the command line (--preset): there is no file to reload — "
                                    "restart it with the new flags, or run it with -c FILE"
                                  : "this udpx cannot read " + cfg_.file + " itself — send SIGHUP to its binder"},
                             ""});
}

void Runtime::onStatusCommand(std::uint64_t id, const std::string& request, const StatusServer::Peer& peer) {
  if (request != kReloadRequest) {
    replyStatus(id, "{\"error\": \"unknown request: ask \\\"status\\\" or \\\"reload\\\"\"}\n");
    return;
  }
  // Any local user may read the status; only root and udpx's own user may change what it runs.
  if (!peer.known || (peer.uid != 0 && peer.uid != reload_uid_)) {
    const std::string who = peer.known ? "uid " + std::to_string(peer.uid) : "a client udpx cannot identify";
    LOG_WARN("reload: refused a request from %s (pid %d): only root and uid %u may reload", who.c_str(),
             static_cast<int>(peer.pid), static_cast<unsigned>(reload_uid_));
    replyStatus(id, reloadAnswerJson("denied", cfg_.file,
                                        "only root and the user udpx runs as (uid " + std::to_string(reload_uid_) +
                                            ") may reload it, and you are " + who +
                                            " — run it as root (sudo udpx reload -c " + cfg_.file +
                                            "); udpx status needs no privilege",
                                        {}));
    return;
  }
  LOG_INFO("reload: requested by uid %u (pid %d, udpx reload)", static_cast<unsigned>(peer.uid),
           static_cast<int>(peer.pid));
  askReload(id);
}

void Runtime::answerStatus(std::uint64_t status_conn, const ReloadOutcome& out) {
  if (status_conn == 0) return;
  replyStatus(status_conn, reloadAnswerJson(out.applied ? "applied" : "refused", cfg_.file,
                                            out.applied ? out.summary : std::string(), out.errors));
}

void Runtime::replyStatus(std::uint64_t id, std::string text) {
  if (status_ && status_->reply(id, text)) return;
  for (auto& old : retired_status_) {
    if (old->reply(id, text)) return;
  }
}

bool Runtime::onBinderMessage(std::string& error) {
  std::optional<privsep::LinkMessage> m = privsep::receiveLinkMessage(peer_fd_.get(), error);
  if (!m) {
    if (error.find("closed") != std::string::npos) error = "exited (its socket closed)";
    else error = "sent an unexpected message: " + error;
    return false;
  }
  if (m->kind != privsep::LinkKind::Order) {
    error = "sent an unexpected message (kind " + std::to_string(static_cast<unsigned>(m->kind)) + ")";
    return false;
  }
  ReloadRequest req;
  req.config_name = m->name;
  req.config_text = std::move(m->text);
  req.new_listeners = std::move(m->fds);
  req.transport_errors = std::move(m->lines);
  const ReloadOutcome out = reload(std::move(req));
  privsep::LinkMessage done;
  done.kind = privsep::LinkKind::Done;
  done.id = m->id;
  done.applied = out.applied;
  done.summary = out.summary;
  done.lines = out.errors;
  if (!privsep::sendLinkMessage(peer_fd_.get(), done, {}, error)) {
    error = "cannot be told the reload's outcome: " + error;
    return false;
  }
  for (auto it = reload_waiters_.begin(); it != reload_waiters_.end(); ++it) {
    if (it->first == m->id) {
      answerStatus(it->second, out);
      reload_waiters_.erase(it);
      break;
    }
  }
  return true;
}

}  // namespace udpx
