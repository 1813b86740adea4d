// Gauges of the fleet node registry for the dashboards (low cardinality:
// three verdicts and one number, never a node name as a label):
//   rp_fleet_nodes{verdict}   nodes whose latest record has this verdict
//                             (affirming | warning | contraindicated;
//                             stale ones included)
//   rp_fleet_stale_nodes      nodes whose latest record is older than the
//                             freshness window
//   rp_fleet_record_errors_total  appraisals naming a node that could not be
//                             recorded (store error, claims too large)
//   rp_fleet_view_available   1 when the registry view is current (memory
//                             store, or a shared store synced within
//                             max_sync_age), else 0
// Update is called periodically (FleetSyncLoop) because staleness moves
// with time alone. Update must be called from one thread at a time.
#ifndef RP_ADMISSION_FLEET_FLEET_METRICS_H_
#define RP_ADMISSION_FLEET_FLEET_METRICS_H_

#include <map>
#include <string>

#include "admission/fleet/registry.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace rp::admission::fleet {

class FleetMetrics {
 public:
  explicit FleetMetrics(prometheus::Registry& registry);
  void Update(const FleetStats& stats);

 private:
  prometheus::Family<prometheus::Gauge>& nodes_;
  std::map<std::string, prometheus::Gauge*> by_verdict_;
  prometheus::Gauge& stale_;
  prometheus::Gauge& available_;
  prometheus::Counter& record_errors_;
  uint64_t record_errors_seen_ = 0;  // guarded by the caller (one updater)
};

}  // namespace rp::admission::fleet

#endif  // RP_ADMISSION_FLEET_FLEET_METRICS_H_
