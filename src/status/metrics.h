// MetricsCollector: the Prometheus view (/metrics) of a Snapshot, taken at scrape time. The data
// path only increments plain integers; nothing here runs per datagram.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "status/snapshot.h"

namespace udpx {

// Every metric family of `s`, each with HELP and TYPE, in a fixed order; a family is there even
// while it has no sample, so the list of metrics does not depend on traffic.
std::vector<prometheus::MetricFamily> metricFamilies(const Snapshot& s);

class MetricsCollector : public prometheus::Collectable {
 public:
  // The Content-Type of text(): the Prometheus text exposition format 0.0.4.
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

  // Takes a snapshot of `sources` at every Collect(); their objects must outlive the collector.
  explicit MetricsCollector(SnapshotSources sources) : sources_(std::move(sources)) {}

  // metricFamilies() of a snapshot taken now.
  std::vector<prometheus::MetricFamily> Collect() const override;
  // Same, with a snapshot taken as of `now` (tests).
  std::vector<prometheus::MetricFamily> collect(TimePoint now) const;

  // Collect() serialised in the text format.
  std::string text() const;

 private:
  SnapshotSources sources_;
};

}  // namespace udpx
