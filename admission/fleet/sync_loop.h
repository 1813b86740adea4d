// A background thread that keeps the fleet registry's view and gauges
// current: every `interval` it calls FleetRegistry::Sync (shared stores
// only; a memory store's view is the state) and FleetMetrics::Update.
// Started by main; stopped (and joined) by the destructor.
#ifndef RP_ADMISSION_FLEET_SYNC_LOOP_H_
#define RP_ADMISSION_FLEET_SYNC_LOOP_H_

#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "admission/fleet/fleet_metrics.h"
#include "admission/fleet/registry.h"

namespace rp::admission::fleet {

class FleetSyncLoop {
 public:
  // `metrics` may be null. `log` gets one line per failed Sync (and one
  // when it recovers). The first round runs before the constructor returns.
  FleetSyncLoop(FleetRegistry& registry, FleetMetrics* metrics, absl::Duration interval,
                std::function<void(const std::string&)> log);
  ~FleetSyncLoop();
  FleetSyncLoop(const FleetSyncLoop&) = delete;
  FleetSyncLoop& operator=(const FleetSyncLoop&) = delete;

  // One round (also what the thread runs).
  void RunOnce();

 private:
  FleetRegistry& registry_;
  FleetMetrics* metrics_;
  const absl::Duration interval_;
  std::function<void(const std::string&)> log_;
  bool failing_ = false;  // only the loop thread (and the constructor) touch it
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace rp::admission::fleet

#endif  // RP_ADMISSION_FLEET_SYNC_LOOP_H_
