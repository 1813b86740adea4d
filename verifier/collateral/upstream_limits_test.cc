#include "verifier/collateral/upstream_limits.h"

#include "gtest/gtest.h"
#include "verifier/collateral/collateral_test_util.h"
#include "verifier/collateral/observer.h"
#include "verifier/common/clock.h"

namespace rp::collateral {
namespace {

using testing::TestTime;

UpstreamLimitsOptions Unlimited() {
  UpstreamLimitsOptions o;
  o.rate_per_second = 0;
  return o;
}

TEST(UpstreamLimiterTest, DefaultTokenBucketIsOnePerTenSeconds) {
  FakeClock clock(TestTime());
  CountingObserver obs;
  auto limiter = UpstreamLimiter::Create("kds", UpstreamLimitsOptions{}, clock, obs);
  ASSERT_TRUE(limiter.ok());
  {
    auto p = (*limiter)->Acquire();
    ASSERT_TRUE(p.ok()) << p.status();
    p->Report(UpstreamPermit::Outcome::kSuccess);
  }
  auto refused = (*limiter)->Acquire();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("local rate limit"), std::string::npos);
  clock.Advance(absl::Seconds(9));
  EXPECT_FALSE((*limiter)->Acquire().ok());
  clock.Advance(absl::Seconds(1));
  EXPECT_TRUE((*limiter)->Acquire().ok());
  EXPECT_EQ(obs.Count("fetch/kds/rate_limited"), 2);
}

TEST(UpstreamLimiterTest, BreakerOpensHalfOpensAndCloses) {
  FakeClock clock(TestTime());
  CountingObserver obs;
  UpstreamLimitsOptions o = Unlimited();
  o.breaker_failure_threshold = 3;
  o.breaker_cooldown = absl::Seconds(60);
  auto limiter = *UpstreamLimiter::Create("up", o, clock, obs);
  for (int i = 0; i < 3; ++i) {
    auto p = limiter->Acquire();
    ASSERT_TRUE(p.ok());
    p->Report(UpstreamPermit::Outcome::kFailure);
  }
  EXPECT_EQ(limiter->breaker_state(), BreakerState::kOpen);
  auto refused = limiter->Acquire();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("circuit breaker open"), std::string::npos);

  clock.Advance(absl::Seconds(60));
  EXPECT_EQ(limiter->breaker_state(), BreakerState::kHalfOpen);
  {
    auto probe = limiter->Acquire();
    ASSERT_TRUE(probe.ok());
    // Only one probe at a time.
    EXPECT_FALSE(limiter->Acquire().ok());
    probe->Report(UpstreamPermit::Outcome::kFailure);
  }
  EXPECT_EQ(limiter->breaker_state(), BreakerState::kOpen);  // failed probe re-opens
  clock.Advance(absl::Seconds(60));
  {
    auto probe = limiter->Acquire();
    ASSERT_TRUE(probe.ok());
    probe->Report(UpstreamPermit::Outcome::kSuccess);
  }
  EXPECT_EQ(limiter->breaker_state(), BreakerState::kClosed);
  EXPECT_EQ(obs.Count("breaker/up/open"), 2);
  EXPECT_EQ(obs.Count("breaker/up/half_open"), 2);
  EXPECT_EQ(obs.Count("breaker/up/closed"), 1);
}

TEST(UpstreamLimiterTest, RetryAfterWindowIsCapped) {
  FakeClock clock(TestTime());
  UpstreamLimitsOptions o = Unlimited();
  o.max_retry_after = absl::Minutes(10);
  auto limiter = *UpstreamLimiter::Create("up", o, clock, CollateralObserver::Noop());
  limiter->RecordRetryAfter(TestTime() + absl::Hours(48));
  auto refused = limiter->Acquire();
  EXPECT_NE(refused.status().message().find("rate limited by upstream until"), std::string::npos);
  clock.Advance(absl::Minutes(10));
  EXPECT_TRUE(limiter->Acquire().ok());
}

TEST(UpstreamLimiterTest, ConcurrencyCapWaitsThenFails) {
  FakeClock clock(TestTime());
  UpstreamLimitsOptions o = Unlimited();
  o.max_concurrency = 1;
  o.concurrency_wait = absl::Milliseconds(50);
  auto limiter = *UpstreamLimiter::Create("up", o, clock, CollateralObserver::Noop());
  auto held = limiter->Acquire();
  ASSERT_TRUE(held.ok());
  auto second = limiter->Acquire();
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  held->Report(UpstreamPermit::Outcome::kSuccess);
  EXPECT_TRUE(limiter->Acquire().ok());
}

TEST(UpstreamLimiterTest, BatchCallersWaitForTheNextToken) {
  // Real clock: waiting is real time by design (batch prefetch at the
  // upstream's pace instead of failing).
  UpstreamLimitsOptions o = Unlimited();
  o.rate_per_second = 10;  // a token every 100 ms
  o.burst = 1;
  o.max_token_wait = absl::Seconds(2);
  auto limiter = *UpstreamLimiter::Create("up", o, Clock::Real(), CollateralObserver::Noop());
  const absl::Time start = absl::Now();
  for (int i = 0; i < 3; ++i) {
    auto p = limiter->Acquire();
    ASSERT_TRUE(p.ok()) << p.status();
    p->Report(UpstreamPermit::Outcome::kSuccess);
  }
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(150));
  // A token further away than the wait still fails fast.
  o.rate_per_second = 0.01;
  o.max_token_wait = absl::Milliseconds(10);
  auto slow = *UpstreamLimiter::Create("slow", o, Clock::Real(), CollateralObserver::Noop());
  ASSERT_TRUE(slow->Acquire().ok());
  const absl::Time before = absl::Now();
  EXPECT_EQ(slow->Acquire().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - before, absl::Seconds(1));
}

TEST(UpstreamLimiterTest, RejectsBadOptions) {
  FakeClock clock(TestTime());
  UpstreamLimitsOptions o;
  o.max_concurrency = 0;
  EXPECT_FALSE(UpstreamLimiter::Create("up", o, clock, CollateralObserver::Noop()).ok());
}

}  // namespace
}  // namespace rp::collateral
