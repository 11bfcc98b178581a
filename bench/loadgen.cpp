// The benchmark's load generator: N simulated clients, each with its own UDP socket (its own
// source port), K requests in flight per client (closed loop) or a fixed total rate (open loop),
// batched sendmmsg/recvmmsg per client socket, per-packet round-trip times from the send time
// carried in the payload, lost requests counted by timeout. Prints one JSON line of results.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.h"

namespace {

using namespace udpx::bench;

constexpr unsigned kBatch = 64;
constexpr std::size_t kMaxSize = 1472;

volatile sig_atomic_t g_stop = 0;
void onSignal(int) { g_stop = 1; }

struct Options {
  sockaddr_in target{};
  std::uint32_t clients = 1;
  std::uint32_t inflight = 1;      // closed loop: requests outstanding per client
  double rate = 0;                 // open loop: total requests per second (0: closed loop)
  double duration = 5;             // seconds of measured load
  double warmup = 0;               // seconds of load before the measurement starts
  std::uint64_t max_requests = 0;  // stop sending after this many (0: no limit)
  std::size_t size = 64;           // payload bytes (generic mode)
  bool ntp = false;                // NTP-shaped 48-byte requests
  bool dns = false;                // DNS-shaped 64-byte queries
  double timeout = 1.0;            // a request unanswered this long is lost
  double idle_hold = -1;           // >= 0: one request per client, then hold the sockets idle
  std::uint32_t ramp = 128;        // at most this many clients waiting for their first reply
  double tick_us = 100;            // open loop: send interval granularity
  std::string latency_dump;        // file: every measured reply's send time and latency (see usage)
};

[[noreturn]] void usage() {
  die("usage: udpx_bench_loadgen --target IP:PORT [--clients N] [--inflight K] [--rate REQ_PER_S]\n"
      "         [--duration S] [--warmup S] [--max-requests M] [--size BYTES] [--ntp|--dns] [--timeout S]\n"
      "         [--idle-hold S] [--ramp N] [--tick-us US] [--latency-dump FILE]\n"
      "  closed loop (default): K requests in flight per client; open loop: --rate total req/s.\n"
      "  --idle-hold: each client sends one request, prints 'idle-ready', holds its socket S seconds.\n"
      "  --latency-dump: at the end, writes each measured reply as two little-endian uint64s: the\n"
      "    request's send time (CLOCK_MONOTONIC ns) and its latency (ns) — to look at latency around\n"
      "    events of a known time (bench/reload.py: reloads).");
}

Options parse(int argc, char** argv) {
  Options o;
  bool have_target = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--ntp" || a == "--dns") {
      (a == "--ntp" ? o.ntp : o.dns) = true;
      continue;
    }
    if (i + 1 >= argc) usage();
    const char* v = argv[++i];
    if (a == "--target") have_target = parseEndpoint(v, o.target) && o.target.sin_port != 0;
    else if (a == "--clients") o.clients = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10));
    else if (a == "--inflight") o.inflight = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10));
    else if (a == "--rate") o.rate = std::atof(v);
    else if (a == "--duration") o.duration = std::atof(v);
    else if (a == "--warmup") o.warmup = std::atof(v);
    else if (a == "--max-requests") o.max_requests = std::strtoull(v, nullptr, 10);
    else if (a == "--size") o.size = std::strtoul(v, nullptr, 10);
    else if (a == "--timeout") o.timeout = std::atof(v);
    else if (a == "--idle-hold") o.idle_hold = std::atof(v);
    else if (a == "--ramp") o.ramp = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10));
    else if (a == "--tick-us") o.tick_us = std::atof(v);
    else if (a == "--latency-dump") o.latency_dump = v;
    else usage();
  }
  if (!have_target || o.clients == 0 || o.inflight == 0 || o.ramp == 0) usage();
  if (o.inflight > kBatch) die("loadgen: --inflight is at most 64");
  if (o.duration <= 0 || o.duration > 3600 || o.timeout <= 0) usage();
  if (o.size < kGenericHeader || o.size > kMaxSize) die("loadgen: --size must be 24..1472");
  if (o.ntp && o.dns) usage();
  if (o.ntp) o.size = kNtpLen;
  if (o.dns) o.size = kDnsLen;
  if (o.idle_hold >= 0) o.inflight = 1;
  return o;
}

void put16be(std::uint8_t* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

// Reads the hex label of a DNS-shaped request back: client, sequence number, send time.
bool parseDnsLabel(const std::uint8_t* label, std::uint32_t& client, std::uint64_t& seq, std::uint64_t& sent) {
  char buf[kDnsLabel + 1];
  std::memcpy(buf, label, kDnsLabel);
  buf[kDnsLabel] = 0;
  const auto hex = [&](std::size_t at, std::size_t n) {
    char part[17] = {};
    std::memcpy(part, buf + at, n);
    return std::strtoull(part, nullptr, 16);
  };
  client = static_cast<std::uint32_t>(hex(0, 8));
  seq = hex(8, 16);
  sent = hex(24, 16);
  return true;
}

// Round-trip times: 100 ns buckets up to 10 ms, 10 us buckets up to 1 s, then one overflow.
class Histogram {
 public:
  Histogram() : fine_(kFine, 0), coarse_(kCoarse, 0) {}
  void add(std::uint64_t ns) noexcept {
    ++count_;
    max_ = std::max(max_, ns);
    if (ns < kFine * 100) ++fine_[ns / 100];
    else if (ns < 1000000000ULL) ++coarse_[ns / 10000];
    else ++overflow_;
  }
  void reset() noexcept {
    std::fill(fine_.begin(), fine_.end(), 0);
    std::fill(coarse_.begin(), coarse_.end(), 0);
    overflow_ = count_ = max_ = 0;
  }
  std::uint64_t count() const noexcept { return count_; }
  double maxUs() const noexcept { return static_cast<double>(max_) / 1000.0; }
  // The q-quantile in microseconds (bucket midpoint).
  double quantileUs(double q) const noexcept {
    if (count_ == 0) return 0;
    const auto want = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kFine; ++i) {
      seen += fine_[i];
      if (seen >= want) return (static_cast<double>(i) * 100.0 + 50.0) / 1000.0;
    }
    for (std::size_t i = kFine / 100; i < kCoarse; ++i) {
      seen += coarse_[i];
      if (seen >= want) return (static_cast<double>(i) * 10000.0 + 5000.0) / 1000.0;
    }
    return maxUs();
  }

 private:
  static constexpr std::size_t kFine = 100000;   // 0 .. 10 ms
  static constexpr std::size_t kCoarse = 100000; // 0 .. 1 s (the first 1000 unused)
  std::vector<std::uint64_t> fine_, coarse_;
  std::uint64_t overflow_ = 0, count_ = 0, max_ = 0;
};

struct Client {
  int fd = -1;
  std::uint64_t next_seq = 0;   // open loop: the next sequence number
  std::uint32_t outstanding = 0;
  bool started = false;
  bool answered = false;        // its first reply has arrived
};

class LoadGen {
 public:
  explicit LoadGen(const Options& o) : o_(o) {
    slot_seq_.assign(static_cast<std::size_t>(o.clients) * o.inflight, kIdle);
    slot_sent_.assign(slot_seq_.size(), 0);
    if (!o.latency_dump.empty()) {
      dump_ = true;
      // Room for the measured window at the open-loop rate (or 1 M replies), so the reply path
      // does not reallocate in the middle of the measurement.
      const double expected = o.rate > 0 ? o.rate * o.duration * 1.1 : 1e6;
      samples_.reserve(static_cast<std::size_t>(expected));
    }
    for (unsigned i = 0; i < kBatch; ++i) {
      tx_iov_[i].iov_base = tx_data_[i];
      tx_msgs_[i].msg_hdr.msg_iov = &tx_iov_[i];
      tx_msgs_[i].msg_hdr.msg_iovlen = 1;
      rx_iov_[i].iov_base = rx_data_[i];
      rx_msgs_[i].msg_hdr.msg_iov = &rx_iov_[i];
      rx_msgs_[i].msg_hdr.msg_iovlen = 1;
    }
  }

  // Opens every client socket, connected to the target. Returns false (with a message) when the
  // process runs out of file descriptors.
  bool open() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) die("loadgen: epoll_create1 failed");
    clients_.resize(o_.clients);
    for (std::uint32_t i = 0; i < o_.clients; ++i) {
      int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        std::fprintf(stderr, "loadgen: socket for client %u: %s — raise the open files limit (ulimit -n)\n", i,
                     std::strerror(errno));
        return false;
      }
      sockaddr_in any{};
      any.sin_family = AF_INET;
      any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0 ||
          connect(fd, reinterpret_cast<const sockaddr*>(&o_.target), sizeof o_.target) != 0) {
        std::fprintf(stderr, "loadgen: bind/connect client %u: %s\n", i, std::strerror(errno));
        close(fd);
        return false;
      }
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = i;
      if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) die("loadgen: epoll_ctl failed");
      clients_[i].fd = fd;
    }
    return true;
  }

  int run() {
    const std::uint64_t start = nowNs();
    const auto ns = [](double s) { return static_cast<std::uint64_t>(s * 1e9); };
    measure_from_ = start + ns(o_.warmup);
    const std::uint64_t stop_at = o_.idle_hold >= 0 ? start + ns(3 * o_.timeout) : measure_from_ + ns(o_.duration);
    const std::uint64_t timeout_ns = ns(o_.timeout);
    std::uint64_t next_scan = start + 50000000ULL;
    std::uint64_t measured_start = start;
    bool measuring = o_.warmup <= 0;
    std::uint32_t next_to_start = 0;
    std::uint64_t open_sched = 0;       // open loop: requests scheduled so far
    std::uint32_t open_next_client = 0;
    std::array<epoll_event, 1024> events;
    const bool open_loop = o_.rate > 0;

    // Phase 1: load until the deadline or the request budget; phase 2: drain the replies.
    bool sending = true;
    std::uint64_t drain_until = 0;
    for (;;) {
      std::uint64_t now = nowNs();
      if (!measuring && now >= measure_from_) {
        measuring = true;
        measured_start = now;
        resetStats();
      }
      if (sending && (now >= stop_at || g_stop || (o_.max_requests && sent_total_ >= o_.max_requests) ||
                      (o_.idle_hold >= 0 && next_to_start == o_.clients && outstandingTotal() == 0))) {
        sending = false;
        measured_end_ = now;
        drain_until = now + timeout_ns;
      }
      if (!sending && (outstandingTotal() == 0 || now >= drain_until || g_stop)) break;

      if (sending && !open_loop) {
        // Start clients while fewer than --ramp of them wait for their first reply, so the first
        // burst stays within the proxy's socket buffer (nginx's default one holds ~250 datagrams).
        while (next_to_start < o_.clients && first_pending_ < o_.ramp) startClient(next_to_start++, now);
      }
      if (sending && open_loop) {
        const double elapsed = static_cast<double>(now - start) / 1e9;
        auto due = static_cast<std::uint64_t>(elapsed * o_.rate);
        if (o_.max_requests) due = std::min(due, o_.max_requests);
        sendOpenLoop(due - std::min(due, open_sched), open_next_client, now);
        open_sched = std::max(open_sched, due);
      }
      if (now >= next_scan) {
        next_scan = now + 50000000ULL;
        if (!open_loop) scanTimeouts(now, timeout_ns, sending);
      }
      timespec wait{0, 0};
      if (open_loop && sending) wait.tv_nsec = static_cast<long>(o_.tick_us * 1000);
      else wait.tv_nsec = 10000000;  // replies wake it; timeouts are scanned every 50 ms
      int n = epoll_pwait2(ep_, events.data(), static_cast<int>(events.size()), &wait, nullptr);
      if (n < 0) {
        if (errno == EINTR) continue;
        die("loadgen: epoll_pwait2 failed");
      }
      const bool resend = sending && !open_loop && o_.idle_hold < 0;
      for (int i = 0; i < n; ++i) receive(events[static_cast<std::size_t>(i)].data.u32, resend);
    }
    const std::uint64_t end = measured_end_ ? measured_end_ : nowNs();
    std::uint64_t lost = lost_;
    if (open_loop) lost = sent_ - std::min(sent_, received_ + late_);
    else lost += outstandingTotal();

    if (o_.idle_hold >= 0) {
      std::printf("idle-ready clients=%u answered=%llu\n", o_.clients, static_cast<unsigned long long>(received_));
      std::fflush(stdout);
      const std::uint64_t hold_until = nowNs() + ns(o_.idle_hold);
      while (!g_stop && nowNs() < hold_until) usleep(20000);
    }
    const double secs = static_cast<double>(end - measured_start) / 1e9;
    std::printf("{\"clients\": %u, \"inflight\": %u, \"rate\": %.0f, \"seconds\": %.3f, \"sent\": %llu, "
                "\"received\": %llu, \"lost\": %llu, \"late\": %llu, \"bad\": %llu, \"send_errors\": %llu, "
                "\"pps\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f, \"max_us\": %.1f}\n",
                o_.clients, o_.inflight, o_.rate, secs, static_cast<unsigned long long>(sent_),
                static_cast<unsigned long long>(received_), static_cast<unsigned long long>(lost),
                static_cast<unsigned long long>(late_), static_cast<unsigned long long>(bad_),
                static_cast<unsigned long long>(send_errors_),
                secs > 0 ? static_cast<double>(received_) / secs : 0.0, hist_.quantileUs(0.5),
                hist_.quantileUs(0.99), hist_.quantileUs(0.999), hist_.maxUs());
    std::fflush(stdout);
    if (dump_) writeDump();
    return 0;
  }

 private:
  static constexpr std::uint64_t kIdle = ~0ULL;

  std::uint64_t outstandingTotal() const noexcept { return outstanding_; }

  void resetStats() noexcept {
    sent_ = received_ = late_ = bad_ = lost_ = send_errors_ = 0;
    hist_.reset();
    samples_.clear();
  }

  void writeDump() const {
    FILE* f = std::fopen(o_.latency_dump.c_str(), "wb");
    if (f == nullptr) die("loadgen: cannot write the latency dump");
    for (const auto& s : samples_) {
      std::uint8_t out[16];
      for (int i = 0; i < 8; ++i) {
        out[i] = static_cast<std::uint8_t>(s[0] >> (8 * i));
        out[8 + i] = static_cast<std::uint8_t>(s[1] >> (8 * i));
      }
      if (std::fwrite(out, sizeof out, 1, f) != 1) die("loadgen: cannot write the latency dump");
    }
    if (std::fclose(f) != 0) die("loadgen: cannot write the latency dump");
  }

  // Writes request `seq` of client `c` into tx slot `k`.
  void build(std::size_t k, std::uint32_t c, std::uint64_t seq, std::uint64_t now) noexcept {
    std::uint8_t* p = tx_data_[k];
    if (o_.dns) {
      std::memset(p, 0, kDnsLen);
      put16be(p, static_cast<std::uint16_t>(seq));  // ID
      p[2] = 0x01;                                   // RD
      p[5] = 1;                                      // QDCOUNT
      p[12] = kDnsLabel;
      std::snprintf(reinterpret_cast<char*>(p + 13), kDnsLabel + 1, "%08x%016llx%016llx", c,
                    static_cast<unsigned long long>(seq), static_cast<unsigned long long>(now));
      std::memcpy(p + 13 + kDnsLabel, "\x05" "bench" "\x00" "\x00\x01" "\x00\x01", 11);  // bench. A IN
    } else if (o_.ntp) {
      std::memset(p, 0, kNtpLen);
      p[0] = 0x23;  // LI 0, version 4, mode 3 (client)
      // NOTE: not in the receive timestamp (32..39): a proxy may rewrite it (udpx does, for
      // interleaved replies), and a server overwrites it. Root delay and dispersion pass.
      put32(p + 4, c);
      put32(p + 8, kMagic);
      put64(p + 16, seq);
      put64(p + 40, now + k);  // distinct transmit timestamps within one batch
    } else {
      put32(p, kMagic);
      put32(p + 4, c);
      put64(p + 8, seq);
      put64(p + 16, now);
    }
    tx_iov_[k].iov_len = o_.size;
  }

  void flush(std::uint32_t c, unsigned count) noexcept {
    unsigned done = 0;
    while (done < count) {
      int n = sendmmsg(clients_[c].fd, tx_msgs_.data() + done, count - done, MSG_DONTWAIT);
      if (n <= 0) {
        // Counted as sent and, never answered, as lost: the offered load did not get through.
        ++send_errors_;
        ++done;
        continue;
      }
      done += static_cast<unsigned>(n);
    }
    sent_ += count;
    sent_total_ += count;
  }

  void startClient(std::uint32_t c, std::uint64_t now) noexcept {
    clients_[c].started = true;
    ++first_pending_;
    for (std::uint32_t s = 0; s < o_.inflight; ++s) {
      const std::size_t idx = static_cast<std::size_t>(c) * o_.inflight + s;
      slot_seq_[idx] = s;
      slot_sent_[idx] = now;
      build(s, c, s, now);
    }
    outstanding_ += o_.inflight;
    flush(c, o_.inflight);
  }

  void sendOpenLoop(std::uint64_t count, std::uint32_t& next, std::uint64_t now) noexcept {
    // Spread `count` requests round-robin over the clients, one sendmmsg per client touched.
    const std::uint64_t per_client = count / o_.clients;
    std::uint64_t extra = count % o_.clients;
    const std::uint32_t touched = per_client > 0 ? o_.clients : static_cast<std::uint32_t>(extra);
    for (std::uint32_t t = 0; t < touched; ++t) {
      const std::uint32_t c = next;
      next = (next + 1) % o_.clients;
      std::uint64_t mine = per_client + (extra > 0 ? 1 : 0);
      if (extra > 0) --extra;
      while (mine > 0) {
        const auto batch = static_cast<unsigned>(std::min<std::uint64_t>(mine, kBatch));
        for (unsigned k = 0; k < batch; ++k) build(k, c, clients_[c].next_seq++, now);
        flush(c, batch);
        clients_[c].outstanding += batch;
        outstanding_ += batch;
        mine -= batch;
      }
    }
  }

  // Closed loop: a request unanswered for `timeout` is lost; its slot sends a new one.
  void scanTimeouts(std::uint64_t now, std::uint64_t timeout, bool resend) noexcept {
    for (std::uint32_t c = 0; c < o_.clients; ++c) {
      if (!clients_[c].started) continue;
      unsigned count = 0;
      for (std::uint32_t s = 0; s < o_.inflight; ++s) {
        const std::size_t idx = static_cast<std::size_t>(c) * o_.inflight + s;
        if (slot_seq_[idx] == kIdle || now - slot_sent_[idx] < timeout) continue;
        ++lost_;
        if (resend) {
          slot_seq_[idx] += o_.inflight;
          slot_sent_[idx] = now;
          build(count++, c, slot_seq_[idx], now);
        } else {
          slot_seq_[idx] = kIdle;
          --outstanding_;
        }
      }
      if (count > 0) flush(c, count);
    }
  }

  void receive(std::uint32_t c, bool resend) noexcept {
    for (unsigned i = 0; i < kBatch; ++i) {
      rx_iov_[i].iov_len = sizeof rx_data_[i];
      rx_msgs_[i].msg_hdr.msg_flags = 0;
    }
    int n = recvmmsg(clients_[c].fd, rx_msgs_.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    const std::uint64_t now = nowNs();
    unsigned count = 0;
    for (int i = 0; i < n; ++i) {
      const std::uint8_t* p = rx_data_[i];
      const std::size_t len = rx_msgs_[static_cast<std::size_t>(i)].msg_len;
      std::uint64_t seq = 0, sent_at = 0;
      std::uint32_t client = 0;
      if (o_.dns) {
        if (len < kDnsLen || (p[2] & 0x80) == 0 || p[12] != kDnsLabel || !parseDnsLabel(p + 13, client, seq, sent_at)) {
          ++bad_;
          continue;
        }
      } else if (o_.ntp) {
        if (len < kNtpLen || (p[0] & 7u) != 4u || get32(p + 8) != kMagic) {
          ++bad_;
          continue;
        }
        seq = get64(p + 16);
        client = get32(p + 4);
        sent_at = get64(p + 24);  // origin timestamp = our transmit timestamp
      } else {
        if (len < kGenericHeader || get32(p) != kMagic) {
          ++bad_;
          continue;
        }
        client = get32(p + 4);
        seq = get64(p + 8);
        sent_at = get64(p + 16);
      }
      if (client != c) {
        ++bad_;
        continue;
      }
      if (o_.rate > 0) {
        if (clients_[c].outstanding == 0) {
          ++late_;
          continue;
        }
        --clients_[c].outstanding;
        --outstanding_;
      } else {
        const std::size_t idx = static_cast<std::size_t>(c) * o_.inflight + seq % o_.inflight;
        if (slot_seq_[idx] != seq) {
          ++late_;  // answered after its timeout, or a duplicate
          continue;
        }
        if (resend) {
          slot_seq_[idx] = seq + o_.inflight;
          slot_sent_[idx] = now;
          build(count++, c, slot_seq_[idx], now);
        } else {
          slot_seq_[idx] = kIdle;
          --outstanding_;
        }
      }
      ++received_;
      if (!clients_[c].answered) {
        clients_[c].answered = true;
        --first_pending_;
      }
      if (now >= measure_from_) {
        hist_.add(now - std::min(now, sent_at));
        if (dump_) samples_.push_back({sent_at, now - std::min(now, sent_at)});
      }
    }
    if (count > 0) flush(c, count);
  }

  Options o_;
  int ep_ = -1;
  std::vector<Client> clients_;
  std::vector<std::uint64_t> slot_seq_, slot_sent_;
  std::uint64_t outstanding_ = 0;
  std::uint32_t first_pending_ = 0;  // clients started, still waiting for their first reply
  std::uint64_t sent_ = 0, sent_total_ = 0, received_ = 0, late_ = 0, bad_ = 0, lost_ = 0, send_errors_ = 0;
  std::uint64_t measure_from_ = 0, measured_end_ = 0;
  Histogram hist_;
  bool dump_ = false;
  std::vector<std::array<std::uint64_t, 2>> samples_;  // --latency-dump: reserved before the run
  std::uint8_t tx_data_[kBatch][kMaxSize]{};
  std::uint8_t rx_data_[kBatch][2048]{};
  std::array<mmsghdr, kBatch> tx_msgs_{}, rx_msgs_{};
  std::array<iovec, kBatch> tx_iov_{}, rx_iov_{};
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  // One socket per client: take the whole hard limit of open files.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  auto gen = std::make_unique<LoadGen>(o);
  if (!gen->open()) return 3;
  return gen->run();
}
