// StatusObjects: what status and metrics read — a frontend "lan" on a backend "up" with two
// servers — built without sockets or a loop, for the tests of the snapshot and its exporters.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <vector>

#include "backends/backend.h"
#include "dataplane/frontend.h"
#include "status/snapshot.h"

namespace udpx {

class StatusObjects : public ::testing::Test {
 protected:
  StatusObjects() {
    BackendConfig bc;
    bc.name = "up";
    bc.fail_timeout = std::chrono::milliseconds(10000);
    for (const char* a : {"127.0.0.1:123", "[::1]:123"}) {
      ServerConfig sc;
      sc.text = a;
      sc.literal = *SockAddr::parse(a);
      bc.servers.push_back(sc);
    }
    backends_.push_back(std::make_unique<Backend>(bc, nullptr, nullptr));
    FrontendConfig fc;
    fc.name = "lan";
    fc.backend = "up";
    fc.max_sessions = 4096;
    frontends_.push_back(std::make_unique<Frontend>(fc, backends_[0].get()));
  }

  SnapshotSources sources(const ProcessStats* process = nullptr) const {
    return {.frontends = frontends_, .backends = backends_, .reloads = reloads_, .process = process,
            .config_file = "/etc/udpx.toml", .started_unix_ms = kStartedUnixMs};
  }

  static constexpr std::int64_t kStartedUnixMs = 1234;
  static inline const TimePoint t0_ = TimePoint{} + std::chrono::hours(1);
  std::vector<std::unique_ptr<Backend>> backends_;
  std::vector<std::unique_ptr<Frontend>> frontends_;
  ReloadStats reloads_;
};

}  // namespace udpx
