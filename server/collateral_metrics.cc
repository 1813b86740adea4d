#include "server/collateral_metrics.h"

#include <cstddef>
#include <iterator>
#include <string>
#include <tuple>

namespace rp::server {
namespace {

using collateral::BreakerState;
using collateral::CacheOutcome;
using collateral::FetchResult;

// Upstream requests: AMD KDS / Intel PCS answer in 0.2-1.3 s; timeouts go
// up to tens of seconds.
const prometheus::Histogram::BucketBoundaries& UpstreamBuckets() {
  static const auto* const kBuckets = new prometheus::Histogram::BucketBoundaries{
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  return *kBuckets;
}

constexpr CacheOutcome kCacheOutcomes[] = {CacheOutcome::kHit, CacheOutcome::kMiss,
                                           CacheOutcome::kStale, CacheOutcome::kNegativeHit,
                                           CacheOutcome::kStaleRefused, CacheOutcome::kDiskError};

}  // namespace

CollateralMetrics::CollateralMetrics(prometheus::Registry& registry)
    : fetches_(prometheus::BuildCounter()
                   .Name("rp_collateral_fetches_total")
                   .Help("Collateral fetch attempts against upstream sources, by source and "
                         "result")
                   .Register(registry)),
      cache_family_(prometheus::BuildCounter()
                        .Name("rp_collateral_cache_total")
                        .Help("Collateral cache lookups, by result")
                        .Register(registry)),
      upstream_seconds_(prometheus::BuildHistogram()
                            .Name("rp_collateral_upstream_seconds")
                            .Help("Latency of upstream collateral requests")
                            .Register(registry)),
      breaker_state_(prometheus::BuildGauge()
                         .Name("rp_collateral_breaker_state")
                         .Help("Circuit breaker state per upstream: 0 closed, 1 half-open, "
                               "2 open")
                         .Register(registry)),
      evictions_(prometheus::BuildCounter()
                     .Name("rp_collateral_cache_evictions_total")
                     .Help("Collateral cache entries evicted to stay under the caps, by tier")
                     .Register(registry)) {
  static_assert(std::size(kCacheOutcomes) == std::tuple_size_v<decltype(cache_)>);
  for (collateral::CacheTier t : {collateral::CacheTier::kMemory, collateral::CacheTier::kNegative,
                                  collateral::CacheTier::kDisk}) {
    evictions_.Add({{"tier", std::string(collateral::CacheTierName(t))}});
  }
  for (CacheOutcome o : kCacheOutcomes) {
    cache_[static_cast<size_t>(o)] =
        &cache_family_.Add({{"result", std::string(collateral::CacheOutcomeName(o))}});
  }
}

void CollateralMetrics::OnUpstreamCreated(std::string_view upstream) {
  const std::string name(upstream);
  breaker_state_.Add({{"upstream", name}}).Set(BreakerStateValue(BreakerState::kClosed));
  for (FetchResult r : {FetchResult::kOk, FetchResult::kNotFound, FetchResult::kError,
                        FetchResult::kRateLimited, FetchResult::kBreakerOpen}) {
    fetches_.Add({{"source", name}, {"result", std::string(collateral::FetchResultName(r))}});
  }
  upstream_seconds_.Add({{"source", name}}, UpstreamBuckets());
}

void CollateralMetrics::OnFetch(std::string_view source, FetchResult result) {
  fetches_
      .Add({{"source", std::string(source)},
            {"result", std::string(collateral::FetchResultName(result))}})
      .Increment();
}

void CollateralMetrics::OnCacheLookup(CacheOutcome outcome) {
  const auto i = static_cast<size_t>(outcome);
  if (i < cache_.size()) cache_[i]->Increment();
}

void CollateralMetrics::OnCacheEviction(collateral::CacheTier tier, int64_t count) {
  if (count <= 0) return;
  evictions_.Add({{"tier", std::string(collateral::CacheTierName(tier))}})
      .Increment(static_cast<double>(count));
}

void CollateralMetrics::OnUpstreamLatency(std::string_view upstream, absl::Duration latency) {
  upstream_seconds_.Add({{"source", std::string(upstream)}}, UpstreamBuckets())
      .Observe(absl::ToDoubleSeconds(latency));
}

void CollateralMetrics::OnBreakerStateChange(std::string_view upstream, BreakerState /*from*/,
                                             BreakerState to) {
  breaker_state_.Add({{"upstream", std::string(upstream)}}).Set(BreakerStateValue(to));
}

double CollateralMetrics::BreakerStateValue(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return 0;
    case BreakerState::kHalfOpen:
      return 1;
    case BreakerState::kOpen:
      return 2;
  }
  return 2;  // unreachable; an unknown state reads as open
}

}  // namespace rp::server
