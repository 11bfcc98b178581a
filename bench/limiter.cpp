// The rate limiter's cost per datagram (bench/RESULTS.md): RateLimiter::admit in a tight loop on
// a fake clock, for traffic that passes, a flood that is refused, and addresses churning through
// the full tables (every datagram recycles an entry). Prints CPU ns per call for each.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include "dataplane/rate_limit.h"

namespace {

using udpx::RateLimiter;

double cpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

double nsPerCall(RateLimiter& rl, const std::vector<sockaddr_in>& from, std::size_t calls, std::size_t& passed) {
  udpx::TimePoint now = udpx::TimePoint{} + std::chrono::hours(1);
  // CPU time, not wall time: on a shared machine the loop is descheduled for long stretches.
  const double start = cpuNs();
  for (std::size_t i = 0; i < calls; ++i) {
    if (i % 64 == 0) now += std::chrono::microseconds(100);  // a receive batch
    passed += rl.admit(reinterpret_cast<const sockaddr*>(&from[i % from.size()]), now) == RateLimiter::Verdict::Pass;
  }
  return (cpuNs() - start) / static_cast<double>(calls);
}

std::vector<sockaddr_in> addresses(std::uint32_t first, std::size_t n) {
  std::vector<sockaddr_in> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    v[i].sin_family = AF_INET;
    v[i].sin_addr.s_addr = htonl(first + static_cast<std::uint32_t>(i * 7));
    v[i].sin_port = htons(static_cast<std::uint16_t>(1024 + i));
  }
  return v;
}

}  // namespace

int main() {
  constexpr std::size_t kCalls = 20'000'000;
  udpx::RateLimitConfig c;
  c.per_minute = 100'000'000ull * 60;  // nothing is refused
  c.burst = 1'000'000'000;
  c.prefix_per_minute = c.per_minute;
  c.prefix_burst = c.burst;
  struct Case {
    const char* name;
    udpx::RateLimitConfig cfg;
    std::vector<sockaddr_in> from;
  };
  udpx::RateLimitConfig tight = c;
  tight.per_minute = 60;  // 1/s: a flood is refused
  tight.burst = 1;
  const Case cases[] = {
      {"pass, 64 clients", c, addresses(0x0a000001, 64)},
      {"refused flood, 1 address", tight, addresses(0x0a000001, 1)},
      {"churn, 100000 addresses", c, addresses(0x0a000001, 100'000)},
  };
  for (const Case& k : cases) {
    RateLimiter rl;
    rl.configure(k.cfg);
    std::size_t passed = 0;
    nsPerCall(rl, k.from, kCalls / 10, passed);  // warm-up: tables resident
    passed = 0;
    const double ns = nsPerCall(rl, k.from, kCalls, passed);
    std::printf("%-28s %6.1f ns/datagram (%zu of %zu passed)\n", k.name, ns, passed, kCalls);
  }
  return 0;
}
