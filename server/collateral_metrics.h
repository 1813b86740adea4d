// Prometheus implementation of the collateral subsystem's metrics hooks
// (verifier/collateral/observer.h).
#ifndef RP_SERVER_COLLATERAL_METRICS_H_
#define RP_SERVER_COLLATERAL_METRICS_H_

#include <array>
#include <string_view>

#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "verifier/collateral/observer.h"

namespace rp::server {

// Registers on `registry` (which must outlive this object):
//   rp_collateral_fetches_total{source,result}  ok | not_found | error |
//                                               rate_limited | breaker_open |
//                                               invalid_key
//   rp_collateral_cache_total{result}           hit | miss | stale |
//                                               negative_hit | stale_refused | disk_error
//   rp_collateral_upstream_seconds{source}      upstream request latency
//   rp_collateral_breaker_state{upstream}       0 closed, 1 half-open, 2 open
//   rp_collateral_cache_evictions_total{tier}   memory | negative | disk (cap evictions)
// `source` / `upstream` values come from the server's configuration (a few
// fixed names such as "amd-kds"), never from clients, so cardinality stays
// bounded. Cache results start at zero so rate() works from the first
// scrape. Thread-safe: prometheus-cpp metrics are atomic and Family::Add
// is internally locked.
class CollateralMetrics : public collateral::CollateralObserver {
 public:
  explicit CollateralMetrics(prometheus::Registry& registry);
  CollateralMetrics(const CollateralMetrics&) = delete;
  CollateralMetrics& operator=(const CollateralMetrics&) = delete;

  // Starts the upstream's series at zero: breaker state closed, fetches by
  // result, latency.
  void OnUpstreamCreated(std::string_view upstream) override;
  void OnFetch(std::string_view source, collateral::FetchResult result) override;
  void OnCacheLookup(collateral::CacheOutcome outcome) override;
  void OnUpstreamLatency(std::string_view upstream, absl::Duration latency) override;
  void OnBreakerStateChange(std::string_view upstream, collateral::BreakerState from,
                            collateral::BreakerState to) override;
  void OnCacheEviction(collateral::CacheTier tier, int64_t count) override;

  // The gauge value of a breaker state: 0 closed, 1 half-open, 2 open.
  static double BreakerStateValue(collateral::BreakerState state);

 private:
  prometheus::Family<prometheus::Counter>& fetches_;
  prometheus::Family<prometheus::Counter>& cache_family_;
  prometheus::Family<prometheus::Histogram>& upstream_seconds_;
  prometheus::Family<prometheus::Gauge>& breaker_state_;
  prometheus::Family<prometheus::Counter>& evictions_;
  // Indexed by CacheOutcome; created up front.
  std::array<prometheus::Counter*, 6> cache_{};
};

}  // namespace rp::server

#endif  // RP_SERVER_COLLATERAL_METRICS_H_
