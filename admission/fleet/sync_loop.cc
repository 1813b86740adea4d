#include "admission/fleet/sync_loop.h"

#include <utility>

namespace rp::admission::fleet {

FleetSyncLoop::FleetSyncLoop(FleetRegistry& registry, FleetMetrics* metrics,
                             absl::Duration interval, std::function<void(const std::string&)> log)
    : registry_(registry), metrics_(metrics), interval_(interval), log_(std::move(log)) {
  RunOnce();
  thread_ = std::thread([this] {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (mu_.AwaitWithTimeout(absl::Condition(&stop_), interval_)) return;
      }
      RunOnce();
    }
  });
}

FleetSyncLoop::~FleetSyncLoop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void FleetSyncLoop::RunOnce() {
  if (registry_.store().shared()) {
    absl::Status st = registry_.Sync();
    if (!st.ok() && log_) log_(std::string(st.message()));
    if (st.ok() && failing_ && log_) log_("fleet: store sync recovered");
    failing_ = !st.ok();
  }
  if (metrics_ != nullptr) metrics_->Update(registry_.Stats());
}

}  // namespace rp::admission::fleet
