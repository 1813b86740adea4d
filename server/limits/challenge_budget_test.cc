// The challenge budget with an injected clock, and its contract with the
// real nonce service and replay store: whatever the budget lets out can be
// recorded when it comes back.
#include "server/limits/challenge_budget.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "server/nonce/nonce_service.h"
#include "server/nonce/replay_store.h"
#include "verifier/common/clock.h"

namespace rp::server::limits {
namespace {

TEST(ChallengeBudgetTest, RefusesBeyondMaxUntilTheOldestExpires) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  ChallengeBudget budget(3, absl::Seconds(10), clock);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(budget.TryIssue().allowed);
  EXPECT_EQ(budget.outstanding(), 3);
  RateDecision d = budget.TryIssue();
  EXPECT_FALSE(d.allowed);
  // Issued at 1000 (exp 1010) with one second of margin: free at 1011.
  EXPECT_EQ(d.retry_after, absl::Seconds(11));
  clock.Advance(absl::Seconds(10));
  EXPECT_FALSE(budget.TryIssue().allowed);
  clock.Advance(absl::Seconds(1));
  EXPECT_TRUE(budget.TryIssue().allowed);
  EXPECT_EQ(budget.outstanding(), 1);
}

TEST(ChallengeBudgetTest, FreesEachSecondsChallengesWhenTheyExpire) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  ChallengeBudget budget(4, absl::Seconds(5), clock);
  ASSERT_TRUE(budget.TryIssue().allowed);  // t=1000
  clock.Advance(absl::Seconds(2));
  ASSERT_TRUE(budget.TryIssue().allowed);  // t=1002
  ASSERT_TRUE(budget.TryIssue().allowed);
  ASSERT_TRUE(budget.TryIssue().allowed);
  RateDecision d = budget.TryIssue();
  ASSERT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, absl::Seconds(4));  // 1006 - 1002
  clock.Advance(absl::Seconds(4));
  EXPECT_TRUE(budget.TryIssue().allowed);   // the t=1000 one is gone
  EXPECT_FALSE(budget.TryIssue().allowed);  // the three of t=1002 remain until 1008
  clock.Advance(absl::Seconds(2));
  EXPECT_EQ(budget.outstanding(), 1);
}

// Random issue / consume / clock steps (sub-second included): the replay
// store, sized like the budget, is never full when a budgeted challenge is
// used.
TEST(ChallengeBudgetTest, EveryBudgetedChallengeCanBeRecorded) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  constexpr int kCapacity = 50;
  nonce::InMemoryReplayStore store(kCapacity, clock);
  auto nonces = nonce::NonceService::Create(Bytes(32, 7), absl::Seconds(3), clock, store);
  ASSERT_TRUE(nonces.ok()) << nonces.status();
  ChallengeBudget budget(kCapacity, absl::Seconds(3), clock);
  std::mt19937 rng(42);
  std::vector<attestation::v1::Challenge> held;
  int issued = 0, refused = 0, consumed = 0;
  for (int step = 0; step < 20000; ++step) {
    switch (rng() % 4) {
      case 0:
      case 1:
        if (budget.TryIssue().allowed) {
          held.push_back((*nonces)->Issue());
          ++issued;
        } else {
          ++refused;
        }
        break;
      case 2:
        if (!held.empty()) {
          const size_t i = rng() % held.size();
          nonce::ChallengeCheck c = (*nonces)->Consume(held[i]);
          ASSERT_NE(c.outcome, nonce::ChallengeOutcome::kStoreError) << c.detail;
          if (c.ok()) ++consumed;
          held.erase(held.begin() + static_cast<long>(i));
        }
        break;
      default:
        clock.Advance(absl::Milliseconds(rng() % 100));
        break;
    }
  }
  EXPECT_GT(issued, 1000);
  EXPECT_GT(refused, 100);  // the bound was reached many times
  EXPECT_GT(consumed, 500);
}

}  // namespace
}  // namespace rp::server::limits
