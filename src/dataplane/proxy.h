// Proxy: the data path. Receives client datagrams in batches, finds or opens their sessions,
// forwards them upstream, validates replies and sends them back in batches. One thread, one
// libevent loop; no allocation, no logging per datagram (problems are counted, and reported by
// rate-limited lines).
#pragma once

#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/clock.h"
#include "base/fast_random.h"
#include "net/event_ptr.h"
#include "base/log.h"
#include "dataplane/inflight_table.h"
#include "dataplane/session_table.h"
#include "dataplane/shared_upstream.h"
#include "dataplane/stats.h"
#include "dataplane/upstream.h"

namespace udpx {

class Frontend;
class Listener;
struct ClientRecord;
class Backend;

// The local address a received datagram was sent to, from its IP_PKTINFO/IPV6_PKTINFO.
LocalAddr localAddrOf(const msghdr& h) noexcept;

// What a unit test replaces to drive the data path in-process (tests/unit/dataplane/
// proxy_test.cpp); production leaves both unset. What they point to outlives the Proxy.
struct ProxySeams {
  UpstreamSockets* upstream = nullptr;  // opens each new session's socket; unset: ConnectedUdpSockets
  // A manual clock: `now` is read from here, and the test advances it instead of sleeping.
  // Unset: the steady clock.
  const TimePoint* clock = nullptr;
};

class Proxy {
 public:
  static constexpr std::size_t kBatch = 64;

  // `max_datagram` is the largest max_datagram of all frontends (sizes the buffers).
  Proxy(event_base* base, std::uint32_t global_max_sessions, std::uint32_t max_datagram, ProxySeams seams = {});
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Registers a frontend: gives it a session lane and starts reading its listeners.
  void attach(Frontend& fe);

  // Ends all sessions (before frontends and backends go away).
  void shutdown() noexcept;

  const SessionTable& sessions() const noexcept { return table_; }
  // Shared upstream sockets (ntp, dns): the requests in flight and the socket pools.
  const InflightTable& inflight() const noexcept { return inflight_; }
  const SharedUpstream& sharedUpstream() const noexcept { return shared_; }

  // Ends the sessions idle for their frontend's session_timeout as of now, and arms the timer
  // for the next deadline: what the expiry timer does when it fires (a test on a manual clock
  // calls it after advancing the clock).
  void expireIdle() noexcept;
  // When the expiry timer is armed to fire (nullopt: not armed).
  std::optional<TimePoint> expiryDue() const noexcept { return expiry_at_; }
  // The expiry timer itself, for tests to read the real delay it was armed with (event_pending).
  const event* expiryTimer() const noexcept { return expiry_ev_.get(); }

  // ---- a reload (app/reload_apply.cpp), run between two loop callbacks ----
  // Sends the replies staged so far: they point at listeners and frontends a reload may change.
  void flushPending() noexcept;
  // Stops serving a frontend a reload removes: ends its sessions, frees its lane. Its listeners
  // close when the Frontend goes.
  void detach(Frontend& fe) noexcept;
  // After a reload changed `fe`'s config (Frontend::reconfigure) or listeners: its lane takes
  // the new timeout and cap (a smaller cap evicts the least recently used), expiry is re-armed
  // for a shorter timeout, and listeners not watched yet are.
  void reconfigured(Frontend& fe);
  // Ends the sessions of a frontend (its lane()) for which `pred(const Session&)` holds.
  // Returns how many.
  template <typename Pred>
  std::size_t endSessionsIf(std::uint32_t lane, Pred pred, SessionEnd why) noexcept {
    return table_.removeIf(lane, pred, why);
  }
  // A reload closes listener `l`: requests in flight that would answer through it are ended.
  void listenerClosing(const Listener& l) noexcept;
  // A reload changed global.max_sessions: a smaller cap evicts the least recently used.
  void setGlobalCap(std::uint32_t cap) {
    table_.setGlobalCap(cap);
    inflight_.grow(cap);  // a reload raising max_sessions: allocates here, not per datagram
  }
  // Makes the datagram buffers large enough for a frontend with this max_datagram.
  void growBuffers(std::uint32_t max_datagram);

 private:
  struct ReplySlot {
    Listener* listener;
    Frontend* frontend;
    std::uint32_t len;
    sockaddr_in6 dst;  // large enough for either family
    socklen_t dst_len;
    alignas(cmsghdr) std::uint8_t control[CMSG_SPACE(sizeof(in6_pktinfo))];
    std::size_t control_len;
  };
  // Same listener, client and source address: replies that may share one GSO message.
  static bool sameDestination(const ReplySlot& a, const ReplySlot& b) noexcept;

  static void onListenerReadable(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onUpstreamReadable(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onFlush(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onExpiryTimer(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onPoolReadable(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onInflightEnd(void* ctx, InflightTable::Entry& e, InflightEnd why) noexcept;

  void watch(Listener& l);
  void wireBuffers() noexcept;
  void receiveRequests(Listener& l) noexcept;
  void handleRequest(Listener& l, std::size_t i, TimePoint now) noexcept;
  // The rate limits (proxy_limits.cpp): true if request `i` of the batch is over its client's
  // or prefix's rate, counted as rate_limited (and answered with a kiss-o'-death, kod = true).
  bool refused(Listener& l, std::size_t i, std::span<const std::uint8_t> pkt, ClientRecord* seen,
               TimePoint now) noexcept;
  void sendKiss(Listener& l, std::size_t i, std::span<const std::uint8_t> pkt) noexcept;
  // Sends the staged run of requests of one session (send, or sendmmsg for several).
  void sendRun(TimePoint now) noexcept;
  Session* openSession(Frontend& fe, Listener& l, const SockAddr& client, TimePoint now) noexcept;
  // The server for a new session or shared request (counted and logged when there is none).
  Server* pickServer(Frontend& fe, const SockAddr& client, TimePoint now) noexcept;
  // A socket could not be opened: counted, and logged at a limited rate.
  void socketFailed(Frontend& fe, const SockAddr& client, const Server& server, int error, TimePoint now) noexcept;
  // ---- shared upstream sockets (proxy_shared.cpp: requests; proxy_replies.cpp: replies) ----
  void handleShared(Listener& l, std::size_t i, Token token, ClientRecord* seen, TimePoint now) noexcept;
  // Sends the shared requests of one receive batch: one sendmmsg per pool socket.
  void sendShared(TimePoint now) noexcept;
  void receivePoolReplies(PoolSocket& ps) noexcept;
  void stageShared(PoolSocket& ps, std::size_t buffer, std::uint32_t len, TimePoint now) noexcept;
  // A frontend stops using its shared sockets (removed, or no longer sharing): its requests in
  // flight end, its pool sockets close.
  void stopSharing(Frontend& fe) noexcept;
  void receiveReply(Session& s) noexcept;
  enum class Staged { Dropped, Queued, SessionEnded };
  // Checks reply datagram `len` bytes long in tx buffer `buffer` and stages it for the flush.
  Staged stageReply(Session& s, std::size_t buffer, std::uint32_t len, TimePoint now) noexcept;
  // Stages reply datagram `len` bytes long in tx buffer `buffer` for `client` through `l`, from
  // the address the client used (`local`) (proxy_replies.cpp).
  void stageSlot(Listener& l, Frontend& fe, const SockAddr& client, const LocalAddr& local, std::size_t buffer,
                 std::uint32_t len) noexcept;
  void flushReplies() noexcept;
  void endSession(Session& s, SessionEnd why) noexcept;
  void armExpiry(TimePoint deadline, TimePoint now) noexcept;
  // A dropped datagram: the frontend's counter, and the client's in its recent-clients table.
  static void dropFor(Frontend& fe, ClientRecord* client, Drop d) noexcept;
  static void dropFor(Frontend& fe, const SockAddr& client, Drop d) noexcept;
  // `now`, read once per wake-up and passed down. A branch, not a virtual call: it is read for
  // every receive batch.
  TimePoint readClock() const noexcept { return clock_ != nullptr ? *clock_ : Clock::now(); }

  event_base* base_;
  ConnectedUdpSockets connected_;
  UpstreamSockets& upstream_;
  const TimePoint* clock_;
  SessionTable table_;
  std::uint32_t slot_size_;

  // Receive batch: preallocated once; recvmmsg fills it.
  // NOTE: not std::vector, whose value-initialisation would touch (and make resident) every
  // page: 2 x 64 x 64 KiB for the raw preset, while typical datagrams touch one page a slot.
  std::unique_ptr<std::uint8_t[]> rx_data_;
  std::array<mmsghdr, kBatch> rx_msgs_{};
  std::array<iovec, kBatch> rx_iov_{};
  std::array<sockaddr_in6, kBatch> rx_names_{};
  struct alignas(cmsghdr) ControlBuf {
    std::uint8_t bytes[CMSG_SPACE(sizeof(in6_pktinfo))];
  };
  std::array<ControlBuf, kBatch> rx_control_{};

  // Requests of one receive batch bound for the same session, in a row: one sendmmsg.
  std::array<mmsghdr, kBatch> req_msgs_{};
  std::array<iovec, kBatch> req_iov_{};
  Session* run_ = nullptr;
  std::size_t run_len_ = 0;

  // Replies staged during one loop iteration, sent with one sendmmsg per listener run.
  std::unique_ptr<std::uint8_t[]> tx_data_;
  std::vector<ReplySlot> tx_slots_;
  std::size_t tx_count_ = 0;
  std::array<mmsghdr, kBatch> tx_msgs_{};  // one per message (a message may carry a GSO run)
  std::array<iovec, kBatch> tx_iov_{};     // one per reply slot
  std::array<std::size_t, kBatch> msg_first_{}, msg_count_{};  // the slots of each message
  struct alignas(cmsghdr) ControlGso {
    std::uint8_t bytes[CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(std::uint16_t))];
  };
  std::array<ControlGso, kBatch> tx_gso_control_{};
  // NOTE: GSO needs each segment to fit the path MTU, unknown here: only small replies (NTP,
  // most DNS) are coalesced. 64 segments is the kernel's UDP_MAX_SEGMENTS on older kernels.
  static constexpr std::uint32_t kGsoMaxSegment = 1200;
  static constexpr std::size_t kGsoMaxSegments = 64;
  bool gso_ = true;
  // Upstream receive: recvmmsg into the free reply slots of tx_data_.
  std::array<mmsghdr, kBatch> up_msgs_{};
  std::array<iovec, kBatch> up_iov_{};
  EventPtr flush_ev_;
  bool flush_pending_ = false;

  EventPtr expiry_ev_;
  std::optional<TimePoint> expiry_at_;

  // Shared upstream sockets: the generator of tokens, the requests in flight, the pools, and
  // the shared requests of one receive batch (entry, its key when staged, the pool socket).
  FastRandom rng_;
  InflightTable inflight_;
  SharedUpstream shared_;
  struct SharedSend {
    std::uint32_t entry;
    Token key;
    std::uint32_t socket;
    bool sent;
  };
  std::array<SharedSend, kBatch> shared_batch_{};
  std::size_t shared_count_ = 0;
  std::uint64_t rx_batch_ = 0;  // receive batches so far: the pools give one a single socket
  std::array<mmsghdr, kBatch> shared_msgs_{};
  std::array<iovec, kBatch> shared_iov_{};
  std::array<std::size_t, kBatch> shared_of_msg_{};  // shared_batch_ index of each message
  // Per lane: the protocol its shared requests were made with (nullptr: not sharing).
  std::vector<const Protocol*> lane_shared_;

  RateLimit socket_error_log_;
  RateLimit no_backend_log_;
  RateLimit session_memory_log_;
  RateLimit evict_log_;
};

}  // namespace udpx
