#include "server/collateral_metrics.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "server/metrics.h"

namespace rp::server {
namespace {

using collateral::BreakerState;
using collateral::CacheOutcome;
using collateral::FetchResult;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(CollateralMetricsTest, CacheResultsStartAtZero) {
  prometheus::Registry registry;
  CollateralMetrics m(registry);
  const std::string text = MetricsText(registry);
  for (const char* r : {"hit", "miss", "stale", "negative_hit", "stale_refused"}) {
    EXPECT_THAT(text, HasSubstr(std::string("rp_collateral_cache_total{result=\"") + r + "\"} 0"))
        << text;
  }
  // Families without a series are not exposed until first use.
  EXPECT_THAT(text, Not(HasSubstr("rp_collateral_fetches_total")));
}

TEST(CollateralMetricsTest, AnUpstreamStartsClosedWithZeroSeries) {
  prometheus::Registry registry;
  CollateralMetrics m(registry);
  collateral::CollateralObserver& o = m;
  o.OnUpstreamCreated("amd-kds");
  const std::string text = MetricsText(registry);
  EXPECT_THAT(text, HasSubstr("rp_collateral_breaker_state{upstream=\"amd-kds\"} 0"));
  for (const char* r : {"ok", "not_found", "error", "rate_limited", "breaker_open"}) {
    EXPECT_THAT(text, HasSubstr(std::string("rp_collateral_fetches_total{result=\"") + r +
                                "\",source=\"amd-kds\"} 0"))
        << text;
  }
  EXPECT_THAT(text, HasSubstr("rp_collateral_upstream_seconds_count{source=\"amd-kds\"} 0"));
  for (const char* tier : {"memory", "negative", "disk"}) {
    EXPECT_THAT(text, HasSubstr(std::string("rp_collateral_cache_evictions_total{tier=\"") +
                                tier + "\"} 0"));
  }
}

TEST(CollateralMetricsTest, CountsObservesAndTracksTheBreaker) {
  prometheus::Registry registry;
  CollateralMetrics m(registry);
  collateral::CollateralObserver& o = m;  // used through the interface
  o.OnFetch("amd-kds", FetchResult::kOk);
  o.OnFetch("amd-kds", FetchResult::kOk);
  o.OnFetch("amd-kds", FetchResult::kRateLimited);
  o.OnFetch("offline:/var/lib/rp", FetchResult::kNotFound);
  o.OnCacheLookup(CacheOutcome::kHit);
  o.OnCacheLookup(CacheOutcome::kHit);
  o.OnCacheLookup(CacheOutcome::kMiss);
  o.OnCacheLookup(CacheOutcome::kStale);
  o.OnCacheLookup(CacheOutcome::kStaleRefused);
  o.OnCacheLookup(CacheOutcome::kNegativeHit);
  o.OnUpstreamLatency("amd-kds", absl::Milliseconds(300));
  o.OnUpstreamLatency("amd-kds", absl::Seconds(3));
  o.OnBreakerStateChange("amd-kds", BreakerState::kClosed, BreakerState::kOpen);
  o.OnBreakerStateChange("intel-pcs", BreakerState::kClosed, BreakerState::kOpen);
  o.OnBreakerStateChange("intel-pcs", BreakerState::kOpen, BreakerState::kHalfOpen);

  const std::string text = MetricsText(registry);
  EXPECT_THAT(text, HasSubstr("# TYPE rp_collateral_fetches_total counter"));
  EXPECT_THAT(text, HasSubstr("# TYPE rp_collateral_cache_total counter"));
  EXPECT_THAT(text, HasSubstr("# TYPE rp_collateral_upstream_seconds histogram"));
  EXPECT_THAT(text, HasSubstr("# TYPE rp_collateral_breaker_state gauge"));
  EXPECT_THAT(text,
              HasSubstr("rp_collateral_fetches_total{result=\"ok\",source=\"amd-kds\"} 2"));
  EXPECT_THAT(text, HasSubstr("rp_collateral_fetches_total{result=\"rate_limited\","
                              "source=\"amd-kds\"} 1"));
  EXPECT_THAT(text, HasSubstr("rp_collateral_fetches_total{result=\"not_found\",source=\"offline:/"
                              "var/lib/rp\"} 1"));
  EXPECT_THAT(text, HasSubstr("rp_collateral_cache_total{result=\"hit\"} 2"));
  EXPECT_THAT(text, HasSubstr("rp_collateral_cache_total{result=\"miss\"} 1"));
  EXPECT_THAT(text, HasSubstr("rp_collateral_cache_total{result=\"stale\"} 1"));
  EXPECT_THAT(text, HasSubstr("rp_collateral_cache_total{result=\"stale_refused\"} 1"));
  EXPECT_THAT(text, HasSubstr("rp_collateral_cache_total{result=\"negative_hit\"} 1"));
  EXPECT_THAT(text, HasSubstr("rp_collateral_upstream_seconds_count{source=\"amd-kds\"} 2"));
  EXPECT_THAT(text, HasSubstr("rp_collateral_upstream_seconds_sum{source=\"amd-kds\"} 3.3"));
  EXPECT_THAT(text,
              HasSubstr("rp_collateral_upstream_seconds_bucket{source=\"amd-kds\",le=\"0.5\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("rp_collateral_upstream_seconds_bucket{source=\"amd-kds\",le=\"5\"} 2"));
  EXPECT_THAT(text, HasSubstr("rp_collateral_breaker_state{upstream=\"amd-kds\"} 2"));
  EXPECT_THAT(text, HasSubstr("rp_collateral_breaker_state{upstream=\"intel-pcs\"} 1"));

  o.OnBreakerStateChange("amd-kds", BreakerState::kOpen, BreakerState::kClosed);
  EXPECT_THAT(MetricsText(registry),
              HasSubstr("rp_collateral_breaker_state{upstream=\"amd-kds\"} 0"));
}

TEST(CollateralMetricsTest, BreakerStateValues) {
  EXPECT_EQ(CollateralMetrics::BreakerStateValue(BreakerState::kClosed), 0);
  EXPECT_EQ(CollateralMetrics::BreakerStateValue(BreakerState::kHalfOpen), 1);
  EXPECT_EQ(CollateralMetrics::BreakerStateValue(BreakerState::kOpen), 2);
}

}  // namespace
}  // namespace rp::server
