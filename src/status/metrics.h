// MetricsCollector: the Prometheus view (/metrics) of the counters the data path bumps, built at
// scrape time from the runtime's objects. The data path only increments plain integers; nothing
// here runs per datagram.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "dataplane/stats.h"

namespace udpx {

class Backend;
class Frontend;
class ProcessStats;

class MetricsCollector : public prometheus::Collectable {
 public:
  // The Content-Type of text(): the Prometheus text exposition format 0.0.4.
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

  // Reads the objects by reference at every Collect(); they must outlive the collector.
  // `process` may be null (no process_* metrics).
  MetricsCollector(const std::vector<std::unique_ptr<Frontend>>& frontends,
                   const std::vector<std::unique_ptr<Backend>>& backends, const ReloadStats& reloads,
                   const ProcessStats* process);

  // Every metric family, each with HELP and TYPE, in a fixed order.
  std::vector<prometheus::MetricFamily> Collect() const override;
  // Same, as of `now` (which decides whether a passively failed server is still down).
  std::vector<prometheus::MetricFamily> collect(TimePoint now) const;

  // Collect() serialised in the text format.
  std::string text() const;

 private:
  const std::vector<std::unique_ptr<Frontend>>& frontends_;
  const std::vector<std::unique_ptr<Backend>>& backends_;
  const ReloadStats& reloads_;
  const ProcessStats* process_;
};

}  // namespace udpx
