// Token buckets with an injected clock: burst then refusal with the exact
// retry time, independence of peers, bounded memory under a key spray, and
// RequestLimiter's status codes.
#include "server/limits/rate_limiter.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "verifier/common/clock.h"

namespace rp::server::limits {
namespace {

using ::testing::HasSubstr;

constexpr RateLimit kTwoPerSecondBurstFour{2, 4};

bool Take(RateLimitStore& s, std::string_view key, const RateLimit& l = kTwoPerSecondBurstFour,
          absl::Duration* retry = nullptr) {
  absl::StatusOr<RateDecision> d = s.Take("GetChallenge", key, l);
  EXPECT_TRUE(d.ok()) << d.status();
  if (retry != nullptr) *retry = d->retry_after;
  return d->allowed;
}

TEST(InMemoryRateLimitStoreTest, BurstThenRefusedWithTheTimeOfTheNextToken) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  InMemoryRateLimitStore store(100, clock);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(Take(store, "ip:192.0.2.1")) << i;
  absl::Duration retry;
  EXPECT_FALSE(Take(store, "ip:192.0.2.1", kTwoPerSecondBurstFour, &retry));
  EXPECT_EQ(retry, absl::Milliseconds(500));
  clock.Advance(absl::Milliseconds(499));
  EXPECT_FALSE(Take(store, "ip:192.0.2.1", kTwoPerSecondBurstFour, &retry));
  EXPECT_EQ(retry, absl::Milliseconds(1));
  clock.Advance(absl::Milliseconds(1));
  EXPECT_TRUE(Take(store, "ip:192.0.2.1"));
  EXPECT_FALSE(Take(store, "ip:192.0.2.1"));
  // Sustained rate: 2 per second.
  int allowed = 0;
  for (int i = 0; i < 100; ++i) {
    clock.Advance(absl::Milliseconds(100));
    allowed += Take(store, "ip:192.0.2.1") ? 1 : 0;
  }
  EXPECT_EQ(allowed, 20);
}

TEST(InMemoryRateLimitStoreTest, PeersAndScopesAreIndependent) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  InMemoryRateLimitStore store(100, clock);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Take(store, "ip:192.0.2.1"));
  EXPECT_FALSE(Take(store, "ip:192.0.2.1"));
  EXPECT_TRUE(Take(store, "ip:192.0.2.2"));
  EXPECT_TRUE(Take(store, "cert:ab"));
  auto attest = store.Take("Attest", "ip:192.0.2.1", kTwoPerSecondBurstFour);
  ASSERT_TRUE(attest.ok());
  EXPECT_TRUE(attest->allowed);
}

TEST(InMemoryRateLimitStoreTest, UnlimitedNeverRefusesAndKeepsNothing) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  InMemoryRateLimitStore store(10, clock);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(Take(store, "k", RateLimit{-1, 1}));
  EXPECT_EQ(store.size(), 0u);
}

TEST(InMemoryRateLimitStoreTest, FullBucketsAreForgottenAndThatChangesNothing) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  InMemoryRateLimitStore store(100, clock);
  ASSERT_TRUE(Take(store, "a"));
  ASSERT_TRUE(Take(store, "b"));
  EXPECT_EQ(store.size(), 2u);
  clock.Advance(absl::Milliseconds(499));  // one token back after 500 ms
  ASSERT_TRUE(Take(store, "c"));
  EXPECT_EQ(store.size(), 3u);
  clock.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(Take(store, "c"));  // purges a and b (full again)
  EXPECT_EQ(store.size(), 1u);
}

TEST(InMemoryRateLimitStoreTest, ClockGoingBackwardsRefillsNothing) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  InMemoryRateLimitStore store(100, clock);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Take(store, "a"));
  clock.Advance(-absl::Hours(1));
  EXPECT_FALSE(Take(store, "a"));
}

// An attacker spraying source addresses cannot evict a throttled peer's
// bucket (which would refill it) nor grow memory past max_keys.
TEST(InMemoryRateLimitStoreTest, KeySprayNeitherRefillsAThrottledPeerNorGrowsMemory) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  constexpr size_t kMaxKeys = 1000;
  InMemoryRateLimitStore store(kMaxKeys, clock);
  const RateLimit slow{0.01, 2};  // a bucket stays in use for 200 s
  ASSERT_TRUE(Take(store, "victim", slow));
  ASSERT_TRUE(Take(store, "flooder", slow));
  ASSERT_TRUE(Take(store, "flooder", slow));
  ASSERT_FALSE(Take(store, "flooder", slow));
  int spray_allowed = 0;
  for (int i = 0; i < 100000; ++i) {
    spray_allowed += Take(store, absl::StrCat("ip:10.", i / 65536, ".", (i / 256) % 256, ".",
                                              i % 256),
                          slow)
                         ? 1
                         : 0;
    if (i % 1000 == 0) clock.Advance(absl::Milliseconds(10));
  }
  EXPECT_LE(store.size(), kMaxKeys);
  // The tracked peers kept their state: the flooder is still throttled and
  // the victim still has its second token.
  EXPECT_FALSE(Take(store, "flooder", slow));
  EXPECT_TRUE(Take(store, "victim", slow));
  // The spray got the 998 free slots' bursts plus what one shared overflow
  // bucket allows, not 100,000.
  EXPECT_LT(spray_allowed, static_cast<int>(2 * kMaxKeys + 10));
  EXPECT_GT(store.overflow_takes(), 90000u);
}

TEST(InMemoryRateLimitStoreTest, LongKeysAreTruncated) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  InMemoryRateLimitStore store(100, clock);
  const std::string prefix(InMemoryRateLimitStore::kMaxKeyBytes, 'x');
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Take(store, prefix + std::to_string(i)));
  EXPECT_FALSE(Take(store, prefix + "other"));  // same bucket
}

class FailingStore final : public RateLimitStore {
 public:
  absl::StatusOr<RateDecision> Take(std::string_view, std::string_view,
                                    const RateLimit&) override {
    return absl::UnavailableError("redis: connection refused");
  }
};

TEST(RequestLimiterTest, ResourceExhaustedWithRetryAfterInWholeSeconds) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  InMemoryRateLimitStore store(100, clock);
  RequestLimiter limiter(store, {RateLimit{0.4, 2}, RateLimit{-1, 1}});
  EXPECT_TRUE(limiter.Admit(Rpc::kGetChallenge, "p").ok());
  EXPECT_TRUE(limiter.Admit(Rpc::kGetChallenge, "p").ok());
  Admission a = limiter.Admit(Rpc::kGetChallenge, "p");
  EXPECT_EQ(a.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(a.retry_after_seconds, 3);  // 2.5 s rounded up
  EXPECT_THAT(a.status.message(), HasSubstr("GetChallenge"));
  EXPECT_THAT(a.status.message(), HasSubstr("retry after 3 s"));
  // Attest is unlimited here.
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(limiter.Admit(Rpc::kAttest, "p").ok());
}

TEST(RequestLimiterTest, StoreFailureIsUnavailable) {
  FailingStore store;
  RequestLimiter limiter(store, {RateLimit{1, 1}, RateLimit{1, 1}});
  Admission a = limiter.Admit(Rpc::kAttest, "p");
  EXPECT_EQ(a.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(a.status.message(), HasSubstr("connection refused"));
}

TEST(RetryAfterSecondsTest, RoundsUpToAtLeastOne) {
  EXPECT_EQ(RetryAfterSeconds(absl::Nanoseconds(1)), 1);
  EXPECT_EQ(RetryAfterSeconds(absl::Seconds(1)), 1);
  EXPECT_EQ(RetryAfterSeconds(absl::Milliseconds(1001)), 2);
  EXPECT_EQ(RetryAfterSeconds(absl::ZeroDuration()), 1);
}

}  // namespace
}  // namespace rp::server::limits
