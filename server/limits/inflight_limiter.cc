#include "server/limits/inflight_limiter.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace rp::server::limits {

std::string_view RefusalName(InflightRefusal r) {
  switch (r) {
    case InflightRefusal::kQueueFull:
      return "queue_full";
    case InflightRefusal::kQueueTimeout:
      return "queue_timeout";
    case InflightRefusal::kNone:
      break;
  }
  return "";
}

InflightLimiter::Permit& InflightLimiter::Permit::operator=(Permit&& o) noexcept {
  if (this != &o) {
    Release();
    owner_ = o.owner_;
    o.owner_ = nullptr;
  }
  return *this;
}

void InflightLimiter::Permit::Release() {
  if (owner_ != nullptr) {
    InflightLimiter* owner = owner_;
    owner_ = nullptr;
    owner->ReleaseSlot();
  }
}

InflightLimiter::InflightLimiter(InflightLimits limits, Observer observer)
    : limits_(limits), observer_(std::move(observer)) {
  absl::MutexLock lock(&mu_);
  NotifyLocked();
}

void InflightLimiter::NotifyLocked() {
  if (observer_) observer_(in_flight_, static_cast<int>(waiters_.size()));
}

InflightLimiter::Outcome InflightLimiter::Acquire(absl::Duration max_wait) {
  Outcome out;
  absl::MutexLock lock(&mu_);
  // Newcomers never overtake waiters: a free slot with waiters present is
  // already on its way to the oldest of them.
  if (in_flight_ < limits_.max_in_flight && waiters_.empty()) {
    ++in_flight_;
    NotifyLocked();
    out.permit = Permit(this);
    return out;
  }
  if (static_cast<int64_t>(waiters_.size()) >= limits_.max_queued) {
    out.refusal = InflightRefusal::kQueueFull;
    return out;
  }
  const absl::Duration wait = std::min(max_wait, limits_.max_queue_wait);
  if (wait <= absl::ZeroDuration()) {
    out.refusal = InflightRefusal::kQueueTimeout;
    return out;
  }
  Waiter self;
  auto it = waiters_.insert(waiters_.end(), &self);
  NotifyLocked();
  mu_.AwaitWithTimeout(absl::Condition(&self.granted), wait);
  if (self.granted) {
    // ReleaseSlot removed us from the queue and passed its slot on
    // (in_flight_ unchanged).
    out.permit = Permit(this);
    return out;
  }
  waiters_.erase(it);
  NotifyLocked();
  out.refusal = InflightRefusal::kQueueTimeout;
  return out;
}

void InflightLimiter::ReleaseSlot() {
  absl::MutexLock lock(&mu_);
  if (!waiters_.empty()) {
    Waiter* next = waiters_.front();
    waiters_.pop_front();
    next->granted = true;  // wakes it (its condition) when we unlock
  } else {
    --in_flight_;
  }
  NotifyLocked();
}

int InflightLimiter::in_flight() const {
  absl::MutexLock lock(&mu_);
  return in_flight_;
}

int InflightLimiter::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(waiters_.size());
}

absl::Status BusyStatus(std::string_view what, InflightRefusal refusal,
                        const InflightLimits& limits, int64_t retry_after_seconds) {
  std::string why;
  if (refusal == InflightRefusal::kQueueFull) {
    why = absl::StrCat("the server is at capacity: ", limits.max_in_flight,
                       " requests running (limits.max_in_flight) and ", limits.max_queued,
                       " waiting (limits.max_queued)");
  } else {
    why = absl::StrCat("no slot of ", limits.max_in_flight,
                       " (limits.max_in_flight) came free within the queue wait (at most ",
                       absl::ToInt64Milliseconds(limits.max_queue_wait),
                       " ms, limits.max_queue_wait_ms, or the call's own deadline)");
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("SERVER_BUSY: ", std::string(what), ": ", why, "; nothing was done (the challenge is not "
                   "consumed); retry after ", retry_after_seconds, " s"));
}

}  // namespace rp::server::limits
