#include "server/limits/challenge_budget.h"

#include <algorithm>

namespace rp::server::limits {

ChallengeBudget::ChallengeBudget(int64_t max_outstanding, absl::Duration lifetime,
                                 const Clock& clock)
    : max_outstanding_(std::max<int64_t>(max_outstanding, 0)),
      lifetime_seconds_(std::max<int64_t>(absl::ToInt64Seconds(lifetime), 1)),
      clock_(clock) {}

void ChallengeBudget::ExpireLocked(int64_t now_seconds) {
  while (!by_expiry_.empty() && by_expiry_.front().first <= now_seconds) {
    outstanding_ -= by_expiry_.front().second;
    by_expiry_.pop_front();
  }
}

RateDecision ChallengeBudget::TryIssue() {
  const absl::Time now = clock_.Now();
  const int64_t now_s = absl::ToUnixSeconds(now);  // floor, as NonceService::Issue
  // The challenge issued right after this call carries exp = floor(t) +
  // lifetime for a t >= now; one second of margin covers a second boundary
  // crossed in between, so the budget never frees a slot before the
  // challenge (and its replay-store entry) has expired.
  const int64_t exp = now_s + lifetime_seconds_ + 1;
  absl::MutexLock lock(&mu_);
  ExpireLocked(now_s);
  RateDecision d;
  if (outstanding_ >= max_outstanding_) {
    d.allowed = false;
    d.retry_after = by_expiry_.empty()
                        ? absl::Seconds(1)
                        : absl::FromUnixSeconds(by_expiry_.front().first) - now;
    if (d.retry_after <= absl::ZeroDuration()) d.retry_after = absl::Seconds(1);
    return d;
  }
  if (!by_expiry_.empty() && by_expiry_.back().first >= exp) {
    // Same second (or a clock that stepped back): count it with the newest.
    ++by_expiry_.back().second;
  } else {
    by_expiry_.emplace_back(exp, 1);
  }
  ++outstanding_;
  return d;
}

int64_t ChallengeBudget::outstanding() {
  const int64_t now_s = absl::ToUnixSeconds(clock_.Now());
  absl::MutexLock lock(&mu_);
  ExpireLocked(now_s);
  return outstanding_;
}

}  // namespace rp::server::limits
