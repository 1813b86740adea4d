#include "verifier/collateral/observer.h"

#include "absl/strings/str_cat.h"

namespace rp::collateral {

std::string_view FetchResultName(FetchResult r) {
  switch (r) {
    case FetchResult::kOk: return "ok";
    case FetchResult::kNotFound: return "not_found";
    case FetchResult::kError: return "error";
    case FetchResult::kRateLimited: return "rate_limited";
    case FetchResult::kBreakerOpen: return "breaker_open";
    case FetchResult::kInvalidKey: return "invalid_key";
  }
  return "unknown";
}

std::string_view CacheOutcomeName(CacheOutcome o) {
  switch (o) {
    case CacheOutcome::kHit: return "hit";
    case CacheOutcome::kMiss: return "miss";
    case CacheOutcome::kStale: return "stale";
    case CacheOutcome::kNegativeHit: return "negative_hit";
    case CacheOutcome::kStaleRefused: return "stale_refused";
    case CacheOutcome::kDiskError: return "disk_error";
  }
  return "unknown";
}

std::string_view BreakerStateName(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed: return "closed";
    case BreakerState::kOpen: return "open";
    case BreakerState::kHalfOpen: return "half_open";
  }
  return "unknown";
}

std::string_view CacheTierName(CacheTier t) {
  switch (t) {
    case CacheTier::kMemory: return "memory";
    case CacheTier::kNegative: return "negative";
    case CacheTier::kDisk: return "disk";
  }
  return "unknown";
}

CollateralObserver& CollateralObserver::Noop() {
  static CollateralObserver* const kNoop = new CollateralObserver();
  return *kNoop;
}

void CountingObserver::Bump(std::string name, int64_t by) {
  absl::MutexLock l(&mu_);
  counts_[std::move(name)] += by;
}

void CountingObserver::OnFetch(std::string_view source, FetchResult result) {
  Bump(absl::StrCat("fetch/", std::string(source), "/", std::string(FetchResultName(result))));
}

void CountingObserver::OnCacheLookup(CacheOutcome outcome) {
  Bump(absl::StrCat("cache/", std::string(CacheOutcomeName(outcome))));
}

void CountingObserver::OnUpstreamLatency(std::string_view upstream, absl::Duration /*latency*/) {
  Bump(absl::StrCat("latency/", std::string(upstream)));
}

void CountingObserver::OnBreakerStateChange(std::string_view upstream, BreakerState /*from*/,
                                            BreakerState to) {
  Bump(absl::StrCat("breaker/", std::string(upstream), "/", std::string(BreakerStateName(to))));
}

void CountingObserver::OnCacheEviction(CacheTier tier, int64_t count) {
  Bump(absl::StrCat("evict/", std::string(CacheTierName(tier))), count);
}

int64_t CountingObserver::Count(std::string_view name) const {
  absl::MutexLock l(&mu_);
  auto it = counts_.find(std::string(name));
  return it == counts_.end() ? 0 : it->second;
}

std::map<std::string, int64_t> CountingObserver::Snapshot() const {
  absl::MutexLock l(&mu_);
  return counts_;
}

}  // namespace rp::collateral
