// A global bound on challenges that are issued and not yet expired.
//
// Every challenge we issue may come back to Attest within its lifetime and
// must then be recorded in the replay store, which holds at most
// nonce.replay_capacity unexpired nonces and refuses (fails closed) when full.
// Bounding outstanding challenges by that capacity means an honest client's
// challenge can always be recorded: GetChallenge says RESOURCE_EXHAUSTED (with
// the time until the oldest outstanding challenge expires) instead of issuing
// one that could later be un-recordable.
#ifndef RP_SERVER_LIMITS_CHALLENGE_BUDGET_H_
#define RP_SERVER_LIMITS_CHALLENGE_BUDGET_H_

#include <cstdint>
#include <deque>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/limits/rate_limiter.h"
#include "verifier/common/clock.h"

namespace rp::server::limits {

// Thread-safe. Memory: one counter per second of lifetime (not per challenge).
class ChallengeBudget {
 public:
  // `lifetime` is the challenge lifetime (whole seconds); `clock` the same
  // clock the nonce service issues with; both outlive the budget.
  ChallengeBudget(int64_t max_outstanding, absl::Duration lifetime, const Clock& clock);

  // Counts one challenge issued now, or refuses (retry_after = until the
  // oldest outstanding challenge expires) when max_outstanding are out.
  RateDecision TryIssue();

  // Issued and not yet expired (as of now).
  int64_t outstanding();
  int64_t max_outstanding() const { return max_outstanding_; }

 private:
  void ExpireLocked(int64_t now_seconds) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int64_t max_outstanding_;
  const int64_t lifetime_seconds_;
  const Clock& clock_;
  mutable absl::Mutex mu_;
  // (expiry in unix seconds, challenges expiring then), oldest first.
  std::deque<std::pair<int64_t, int64_t>> by_expiry_ ABSL_GUARDED_BY(mu_);
  int64_t outstanding_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rp::server::limits

#endif  // RP_SERVER_LIMITS_CHALLENGE_BUDGET_H_
