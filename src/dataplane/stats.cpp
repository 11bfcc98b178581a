// Names of drop reasons.
#include "dataplane/stats.h"

namespace udpx {

std::string_view dropName(Drop d) noexcept {
  switch (d) {
    case Drop::Acl: return "acl";
    case Drop::Malformed: return "malformed";
    case Drop::WrongKind: return "wrong_kind";
    case Drop::Control: return "control";
    case Drop::TooLarge: return "too_large";
    case Drop::NoBackend: return "no_backend";
    case Drop::SocketError: return "socket_error";
    case Drop::SendError: return "send_error";
    case Drop::ReplyMalformed: return "reply_malformed";
    case Drop::ReplyWrongKind: return "reply_wrong_kind";
    case Drop::ReplyUnmatched: return "reply_unmatched";
    case Drop::ReplyTooLarge: return "reply_too_large";
    case Drop::ReplyUnexpected: return "reply_unexpected";
    case Drop::ReplySendError: return "reply_send_error";
    case Drop::TokenBusy: return "token_busy";
    case Drop::RateLimited: return "rate_limited";
    case Drop::kCount: break;
  }
  return "unknown";
}

}  // namespace udpx
