#include "admission/fleet/fleet_metrics.h"

namespace rp::admission::fleet {

FleetMetrics::FleetMetrics(prometheus::Registry& registry)
    : nodes_(prometheus::BuildGauge()
                 .Name("rp_fleet_nodes")
                 .Help("Nodes in the fleet registry by the verdict of their latest attestation")
                 .Register(registry)),
      stale_(prometheus::BuildGauge()
                 .Name("rp_fleet_stale_nodes")
                 .Help("Nodes whose latest attestation is older than the freshness window")
                 .Register(registry)
                 .Add({})),
      available_(prometheus::BuildGauge()
                     .Name("rp_fleet_view_available")
                     .Help("1 when the fleet registry view is current (admission can answer)")
                     .Register(registry)
                     .Add({})),
      record_errors_(prometheus::BuildCounter()
                         .Name("rp_fleet_record_errors_total")
                         .Help("Appraisals naming a node that could not be recorded")
                         .Register(registry)
                         .Add({})) {
  for (const char* v : {"affirming", "warning", "contraindicated"}) {
    by_verdict_[v] = &nodes_.Add({{"verdict", v}});
  }
}

void FleetMetrics::Update(const FleetStats& stats) {
  for (auto& [verdict, gauge] : by_verdict_) {
    auto it = stats.nodes_by_verdict.find(verdict);
    gauge->Set(it == stats.nodes_by_verdict.end() ? 0.0 : static_cast<double>(it->second));
  }
  stale_.Set(static_cast<double>(stats.stale));
  available_.Set(stats.available ? 1.0 : 0.0);
  if (stats.record_errors > record_errors_seen_) {
    record_errors_.Increment(static_cast<double>(stats.record_errors - record_errors_seen_));
    record_errors_seen_ = stats.record_errors;
  }
}

}  // namespace rp::admission::fleet
